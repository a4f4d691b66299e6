"""memgpt.eval — see DESIGN.md §2."""

"""memgpt.export — see DESIGN.md §2."""

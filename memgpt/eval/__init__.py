"""memgpt.eval — see docs/architecture.md#modules-eval."""

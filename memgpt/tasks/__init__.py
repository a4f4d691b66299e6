"""memgpt.tasks — see docs/architecture.md#modules-tasks."""

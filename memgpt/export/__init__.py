"""memgpt.export — see docs/architecture.md#modules-export."""

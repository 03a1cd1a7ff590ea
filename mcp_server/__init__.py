"""The read side: what agents and people call (MCP server, CLI, recall, fold, facts)."""

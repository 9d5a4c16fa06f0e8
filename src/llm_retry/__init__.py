"""llm-retry."""

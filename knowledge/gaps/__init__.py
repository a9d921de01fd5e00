"""Content gaps: customer questions the bot could not answer, grouped into suggested intents."""

"""Natural-language understanding: the engine interface, the local engine and model management."""

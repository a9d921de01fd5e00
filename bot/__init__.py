"""deskbot: the service — configuration, aiohttp app, CLI, conversation engine, NLU, event bus."""

"""FAQ intents: CRUD, import/export (native YAML, Rasa YAML, CSV) and the demo knowledge base."""

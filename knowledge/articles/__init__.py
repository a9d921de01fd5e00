"""Help-centre articles: import, passages, retrieval, the bot's article answers."""

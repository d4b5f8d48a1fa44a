"""One cog per file: ask, sources, admin, channels, refresh (loaded by bot.client.CiteBot.setup_hook)."""

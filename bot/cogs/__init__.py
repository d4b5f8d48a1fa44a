"""One cog per file: ask, sources, feedback, admin."""

"""citebot's Discord front end.

Importing this package does not import discord.py: ``bot.launcher`` stays cheap for ``citebot index``;
the client, cogs, views and renderer import it when they are themselves imported.
"""

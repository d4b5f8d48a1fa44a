"""Config-file text for tests: ``[[knowledge_bases]]`` tables."""


def kb_table(name, guilds, channels=None, **extra) -> str:
    lines = ["[[knowledge_bases]]", f'name = "{name}"', f'corpus = "/srv/{name}/docs"',
             f'index_dir = "/srv/{name}/index"', f"guilds = {guilds}"]
    if channels is not None:
        lines.append(f"channels = {channels}")
    lines += [f"{k} = {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n\n"

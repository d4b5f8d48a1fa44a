"""Sources: a local folder, a website, a sitemap or a git repository, resolved into a local folder
the readers read, with each file's link (before ingest: nothing here imports a later stage)."""

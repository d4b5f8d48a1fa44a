"""Ingest: walk a corpus, read each format, clean the text into paragraphs with their headings."""

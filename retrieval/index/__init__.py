"""Index: split documents into passages, embed them, write and load checksummed index versions
(SQLite store, FAISS vectors, BM25, page centroids)."""

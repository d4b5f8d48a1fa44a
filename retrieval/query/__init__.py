"""Query: fuse dense and BM25 candidates, pick the quote, compose the answer and its confidence."""

"""Retrieval: search backends (BM25 + kNN), hybrid retrieval and rank fusion."""

"""Caching: rerank scores and small state, in-process or in Redis."""

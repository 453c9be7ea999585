"""Reranking: rescoring fused candidates with a cross-encoder, Cohere, or late interaction."""

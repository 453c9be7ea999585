"""Embedding: text → normalised vectors, and the model's own tokenizer for chunking."""

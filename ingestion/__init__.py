"""Ingestion: load help-center files, parse, chunk, embed and index them."""

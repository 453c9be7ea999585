"""Shared test helpers: local stub servers, fixtures, corpora."""

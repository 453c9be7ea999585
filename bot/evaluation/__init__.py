"""Retrieval evaluation: labelled questions → Hit@5, P@5, Recall@10, MRR@10, nDCG@10."""

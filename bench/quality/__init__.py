"""Retrieval-quality suite: synthetic LoCoMo-shaped conversations, recall@k and MRR."""

"""Pluggable providers (embedders, LLMs) behind small interfaces."""

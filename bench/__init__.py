"""Benchmarks: `make bench` (quick) and `make bench-1m`; see bench/run.py and bench/quality/."""

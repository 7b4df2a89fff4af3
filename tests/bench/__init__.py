"""Benchmarks: run with `make bench` (python -m tests.bench). Never collected by pytest."""

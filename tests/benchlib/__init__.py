"""Helpers for tests/bench.py (`make bench`). Not part of the product."""

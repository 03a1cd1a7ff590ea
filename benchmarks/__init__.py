"""Benchmarks run by hand, not in CI: localization quality and speed of recall."""

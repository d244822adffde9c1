"""Benchmarks, each run as a script (the README's "Performance" section lists them)."""

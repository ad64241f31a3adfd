"""Benchmarks: each figure is measured beside a baseline from the same run (``make bench``)."""

"""Benchmarks: the real server in its own process, driven by client processes, against baselines."""

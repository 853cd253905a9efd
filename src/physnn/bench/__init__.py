"""Benchmark suites: running many configurations and storing their results."""

"""Benchmarks: each figure printed beside a bare baseline measured in the same run."""

"""Benchmarks: each module runs alone (`python -m gcfa_dgl.bench.<name>`) and prints its figures."""

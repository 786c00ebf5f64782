"""Hydra configs, installed as the package `gcfa_dgl.conf` (pyproject.toml maps this folder)."""

"""Preprocessing stage: official dataset files -> DGL heterograph, fixed splits and metadata."""

import os

os.environ.setdefault("DGLBACKEND", "pytorch")

"""What the command-line tools share: `key=value` arguments and one-line errors."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from data_prep.errors import UserError


def parse_run_args(argv: list[str], keys: set[str]) -> dict[str, str]:
    """`key=value` arguments of the tools that read a run (evaluate, recommend); run_dir is required."""
    pairs = [a.split("=", 1) for a in argv]
    bad = [a[0] for a in pairs if len(a) != 2 or a[0] not in keys]
    if bad:
        raise UserError(f"unknown argument(s) {bad}; known: {', '.join(sorted(keys))}")
    args = dict(pairs)
    if "run_dir" not in args:
        raise UserError("run_dir=<run directory> is required")
    return args


@contextmanager
def user_errors() -> Iterator[None]:
    """A UserError inside becomes one `error: ...` line on stderr and exit status 2, no traceback."""
    try:
        yield
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None

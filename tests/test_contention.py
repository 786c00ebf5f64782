"""The start-up warning for runs that share their cores with other busy processes."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from gcfa_dgl.distributed import busy_cores, contention_warning, usable_cores


def test_no_warning_when_threads_fit_the_free_cores():
    assert contention_warning(threads=2, cores=2, busy=0.1) is None  # alone
    assert contention_warning(threads=1, cores=2, busy=2.0) is None  # one thread never spins
    assert contention_warning(threads=4, cores=8, busy=2.0) is None  # room left
    assert contention_warning(threads=2, cores=2, busy=None) is None  # counters unreadable


def test_warning_names_the_remedy_when_cores_are_oversubscribed():
    msg = contention_warning(threads=2, cores=2, busy=1.0)
    assert msg is not None
    assert "train.threads=1" in msg and "OMP_WAIT_POLICY=PASSIVE" in msg and "1.0 of this machine's 2 cores" in msg


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/stat is Linux's")
def test_busy_cores_sees_a_process_spinning_on_a_core():
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        busy = busy_cores(window=0.5)
    finally:
        spinner.kill()
        spinner.wait()
    assert busy is not None
    assert 0.7 <= busy <= usable_cores() + 1e-6

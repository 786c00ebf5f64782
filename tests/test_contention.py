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


def test_warning_names_the_remedy_when_cores_are_oversubscribed(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    msg = contention_warning(threads=2, cores=2, busy=1.0)
    assert msg is not None
    assert "train.threads=1" in msg and "OMP_WAIT_POLICY=PASSIVE" in msg and "1.0 of this machine's 2 cores" in msg
    monkeypatch.setenv("OMP_WAIT_POLICY", "passive")  # idle threads already sleep: nothing to warn about
    assert contention_warning(threads=2, cores=2, busy=1.0) is None


def test_startup_check_skips_sweep_jobs_and_torchrun_ranks(monkeypatch):
    import gcfa_dgl.distributed as D

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.setattr(D, "busy_cores", lambda window=0.05: 2.0)
    monkeypatch.setattr(D, "usable_cores", lambda: 2)
    assert D.startup_contention(threads=2) is not None
    assert D.startup_contention(threads=2, parallel_jobs=2) is None
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert D.startup_contention(threads=2) is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/stat is Linux's")
def test_busy_cores_sees_a_process_spinning_on_a_core():
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        busy = busy_cores(window=1.0)
    finally:
        spinner.kill()
        spinner.wait()
    assert busy is not None
    assert 0.5 <= busy <= usable_cores() + 1e-6

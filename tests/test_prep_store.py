"""Fingerprinted outputs: no-op reruns, new directories for new settings, atomic failure."""

from __future__ import annotations

import json
import time

import pytest
from conftest import CONF, compose_prep, path_overrides, run_module, write_ml100k

from data_prep import pipeline
from data_prep.errors import DataError, UserError
from data_prep.pipeline import prepare
from data_prep.store import verify_outputs


@pytest.fixture
def ml(dirs):
    write_ml100k(dirs["raw"], n_users=40, n_items=60, per_user=10)
    return dirs


def _cfg(d, *extra):
    return compose_prep(["dataset=ml100k", "dataset.negatives.num=5", *path_overrides(d), *extra])


def test_rerun_is_a_noop(ml, monkeypatch):
    out = prepare(_cfg(ml))
    stamp = (out / "graph.bin").stat().st_mtime_ns
    monkeypatch.setattr(pipeline, "build", lambda *a, **k: pytest.fail("rebuilt an up-to-date dataset"))
    t = time.perf_counter()
    assert prepare(_cfg(ml)) == out
    assert time.perf_counter() - t < 2.0
    assert (out / "graph.bin").stat().st_mtime_ns == stamp


def test_any_setting_or_raw_change_is_a_new_directory(ml):
    base = prepare(_cfg(ml))
    assert prepare(_cfg(ml, "dataset.tightness.top_m=3")) != base
    assert prepare(_cfg(ml, "dataset.negatives.seed=1")) != base
    assert prepare(_cfg(ml, "dataset.min_user_interactions=2")) != base
    with open(ml["raw"] / "ml-100k" / "u.data", "a") as f:
        f.write("1\t59\t3\t881000000\n")
    changed = prepare(_cfg(ml))
    assert changed != base
    assert base.exists()  # the earlier output stays


def test_meta_records_counts_config_and_checksums(ml):
    out = prepare(_cfg(ml))
    meta = json.loads((out / "meta.json").read_text())
    assert meta["counts"]["interactions"] == 400
    assert meta["dataset"]["tightness"]["top_m"] == 20
    assert set(meta["checksums"]) == {"graph.bin", "splits.npz", "items.csv"}
    assert len(meta["user_ids"]) == 40
    verify_outputs(out)


def disk_full(*a, **k):
    raise OSError(28, "No space left on device")


def test_full_disk_midway_leaves_earlier_output_intact(ml, monkeypatch):
    out = prepare(_cfg(ml))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    monkeypatch.setattr(pipeline.graph_mod, "save", disk_full)
    with pytest.raises(UserError, match="No space left on device. Nothing there was replaced"):
        prepare(_cfg(ml, "force=true"))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    with pytest.raises(UserError, match="No space left on device"):
        prepare(_cfg(ml, "dataset.tightness.top_m=4"))
    leftovers = [p for p in out.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_full_disk_through_the_entry_point_is_one_line(ml, monkeypatch, capsys):
    """`make data` on a full disk: exit 2, one line, no traceback, earlier output intact."""
    from data_prep.__main__ import main

    out = prepare(_cfg(ml))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    monkeypatch.setattr(pipeline.graph_mod, "save", disk_full)
    monkeypatch.setattr("sys.argv", ["data_prep", f"--config-path={CONF}", "dataset=ml100k", "dataset.negatives.num=5",
                                     *path_overrides(ml), "force=true", "hydra.output_subdir=null",
                                     "hydra/job_logging=none", "hydra/hydra_logging=none",
                                     f"hydra.run.dir={ml['processed']}"])
    with pytest.raises(SystemExit) as e:
        main()
    err = capsys.readouterr().err
    assert e.value.code == 2 and "Traceback" not in err, err
    assert err.strip().startswith("error: cannot write") and "No space left on device" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_atomic_write_failure_keeps_the_old_file(tmp_path, monkeypatch):
    from data_prep import store

    target = tmp_path / "metrics.json"
    store.atomic_write_json(target, {"a": 1})

    def fail(f):
        f.write(b'{"a": ')
        raise OSError(28, "No space left on device")

    with pytest.raises(UserError, match="No space left"):
        store.atomic_write(target, fail)
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_flipped_byte_is_caught(ml):
    out = prepare(_cfg(ml))
    p = out / "splits.npz"
    b = bytearray(p.read_bytes())
    b[len(b) // 2] ^= 0xFF
    p.write_bytes(bytes(b))
    with pytest.raises(DataError, match="make data"):
        prepare(_cfg(ml))


@pytest.mark.slow
def test_entry_point_summary_and_noop(ml):
    args = ["dataset=ml100k", "dataset.negatives.num=5", *path_overrides(ml)]
    first = run_module("data_prep", *args)
    assert first.returncode == 0, first.stderr
    for word in ("node type", "user-rates-video", "train", "density", "tightness"):
        assert word in first.stdout
    second = run_module("data_prep", *args)
    assert second.returncode == 0
    assert "up to date" in second.stderr + second.stdout

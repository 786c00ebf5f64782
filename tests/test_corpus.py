"""Every bad input of tests/corpus/ through `python -m data_prep`: one clear line naming the file,
line or config key, exit code 2, no traceback, and an earlier processed dataset left intact."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, run_module

CORPUS = Path(__file__).parent / "corpus"
CASES = yaml.safe_load((CORPUS / "cases.yaml").read_text())
COMMON = ["dataset.negatives.num=2"]
CSV = ["dataset.path=ratings.csv", "dataset.columns.rating=rating", "dataset.rating_range=[1,5]"]


def snapshot(root: Path) -> dict[str, str]:
    """Every processed file and its hash (Hydra's run logs under .logs/ excepted)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and ".logs" not in p.relative_to(root).parts}


@pytest.fixture(scope="module")
def earlier(tmp_path_factory) -> Path:
    """A processed dataset built before the bad inputs arrive; none of them may touch it."""
    raw, processed = tmp_path_factory.mktemp("raw"), tmp_path_factory.mktemp("processed")
    shutil.copy(CORPUS / "csv" / "good.csv", raw / "ratings.csv")
    r = run_module("data_prep", "dataset=csv", *CSV, *COMMON, f"paths.raw_dir={raw}",
                   f"paths.processed_dir={processed}")
    assert r.returncode == 0, r.stderr[-2000:]
    return processed


def test_good_files_of_every_format_prepare(tmp_path):
    """The corpus's good files are valid, so each bad case differs from a working one by its fault."""
    for dataset, raw in [("ml100k", "ml100k/good"), ("ml1m", "ml1m/good"), ("amazon_video", "amazon/good"),
                         ("tiktok", "tiktok/good")]:
        target = tmp_path / dataset
        shutil.copytree(CORPUS / raw, target)
        r = run_module("data_prep", f"dataset={dataset}", *COMMON, f"paths.raw_dir={target}",
                       f"paths.processed_dir={tmp_path / 'out'}", "paths.download=false",
                       "paths.verify_checksums=false")
        assert r.returncode == 0, (dataset, r.stderr[-2000:])


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_bad_input_gives_one_clear_error(case, earlier, tmp_path):
    raw = tmp_path / "raw"
    src = CORPUS / case["raw"] if "raw" in case else None
    if src is None:
        raw.mkdir()
    elif src.is_dir():
        shutil.copytree(src, raw)
    else:
        raw.mkdir()
        shutil.copy(src, raw / "ratings.csv")
    overrides = [o.replace("{corpus}", str(CORPUS.resolve())) for o in case.get("overrides", [])]
    if case["dataset"] == "csv":
        overrides = CSV + overrides
    archive = any(o.startswith("dataset.url=") for o in overrides)
    before = snapshot(earlier)
    r = run_module("data_prep", f"dataset={case['dataset']}", *COMMON, *overrides, f"paths.raw_dir={raw}",
                   f"paths.processed_dir={earlier}", f"paths.download={str(archive).lower()}",
                   f"paths.verify_checksums={str(case.get('verify_checksums', False)).lower()}")
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr and "Warning" not in r.stderr, r.stderr
    # One error line, last (a download progress bar may precede it).
    err = r.stderr.strip().splitlines()[-1]
    assert err.startswith("error: ") and r.stderr.count("error: ") == 1, r.stderr
    assert re.search(case["error"], err), err
    for name in case["names"]:
        assert name in err, (name, err)
    assert snapshot(earlier) == before, "an earlier processed dataset changed"
    if archive:  # nothing was extracted outside the raw folder
        assert not (tmp_path / "escaped.txt").exists() and not (ROOT / "escaped.txt").exists()


def test_docs_table_lists_every_case():
    doc = (ROOT / "docs" / "reliability.md").read_text()
    missing = [c["id"] for c in CASES if f"`{c['id']}`" not in doc]
    assert not missing, f"docs/reliability.md lacks {missing}"

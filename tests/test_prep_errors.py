"""Malformed input gives one clear error naming the file and line, and loses nothing."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest
from conftest import compose_prep, path_overrides, run_module, write_ml100k, write_table

from data_prep.download import download, safe_extract_zip
from data_prep.errors import ConfigError, DataError, UserError
from data_prep.pipeline import prepare


def _csv_cfg(dirs, path, *extra):
    return compose_prep(
        ["dataset=csv", f"dataset.path={path}", "dataset.columns.rating=rating",
         "dataset.rating_range=[1,5]", "dataset.negatives.num=1", *path_overrides(dirs), *extra]
    )


GOOD = [(u, i, 1 + (u * i) % 5) for u in range(1, 6) for i in range(1, 6) if (u + i) % 4]


@pytest.mark.parametrize(
    "mutate, match, line",
    [
        (lambda rows: rows, None, None),
        (lambda rows: rows[:3] + [("x7", 2, 3)] + rows[3:], "'x7' is not a numeric id", 5),
        (lambda rows: rows[:5] + [(2, 3, 9)] + rows[5:], "outside the range", 7),
        (lambda rows: rows[:1] + [(1, 2.5, 3)] + rows[1:], "fractional", 3),
        (lambda rows: rows[:2] + [(-4, 2, 3)] + rows[2:], "negative", 4),
        (lambda rows: rows[:2] + [(4, "99999999999999999999", 3)] + rows[2:], "is too large", 4),
        (lambda rows: rows[:2] + [("inf", 2, 3)] + rows[2:], "id inf is too large", 4),
        (lambda rows: rows[:2] + [(4, 2, "nan")] + rows[2:], "not a finite number", 4),
    ],
)
def test_bad_values_name_file_and_line(dirs, mutate, match, line):
    path = write_table(dirs["raw"] / "r.csv", mutate(list(GOOD)), ("user", "item", "rating"))
    cfg = _csv_cfg(dirs, "r.csv")
    if match is None:
        prepare(cfg)
        return
    with pytest.raises(DataError, match=match) as e:
        prepare(cfg)
    assert e.value.path == str(path) and e.value.line == line


def test_wrong_separator(dirs):
    write_table(dirs["raw"] / "r.csv", GOOD, ("user", "item", "rating"), sep=";")
    with pytest.raises(DataError, match="wrong separator"):
        prepare(_csv_cfg(dirs, "r.csv"))


def test_wrong_separator_in_fixed_format(dirs):
    d = write_ml100k(dirs["raw"])
    text = (d / "u.data").read_text().replace("\t", ",")
    (d / "u.data").write_text(text)
    with pytest.raises(DataError, match=r"expected 4 fields separated by '\\t'") as e:
        prepare(compose_prep(["dataset=ml100k", *path_overrides(dirs)]))
    assert e.value.line == 1


def test_empty_file(dirs):
    (dirs["raw"] / "r.csv").write_text("")
    with pytest.raises(DataError, match="empty"):
        prepare(_csv_cfg(dirs, "r.csv"))


def test_non_utf8_bytes(dirs):
    (dirs["raw"] / "r.csv").write_bytes(b"user,item,rating\n1,2,3\n2,\xff\xfe,4\n")
    with pytest.raises(DataError, match="not valid utf-8") as e:
        prepare(_csv_cfg(dirs, "r.csv"))
    assert e.value.line == 3


def test_missing_file_names_the_env_var(dirs):
    with pytest.raises(UserError, match="GCFA_RAW_DIR"):
        prepare(compose_prep(["dataset=ml100k", *path_overrides(dirs)]))


def test_bad_config_values(dirs):
    with pytest.raises(ConfigError, match="dataset.split.ratios"):
        prepare(_csv_cfg(dirs, "r.csv", "dataset.split.ratios=[0.5,0.2,0.2]"))
    with pytest.raises(ConfigError, match="dataset.negatives.num"):
        prepare(_csv_cfg(dirs, "r.csv", "dataset.negatives.num=0"))


def test_everything_filtered_out(dirs):
    write_table(dirs["raw"] / "r.csv", GOOD, ("user", "item", "rating"))
    with pytest.raises(UserError, match="min_user_interactions"):
        prepare(_csv_cfg(dirs, "r.csv", "dataset.min_user_interactions=50"))


def _official_cfg(dirs, url, checksum):
    return compose_prep(
        ["dataset=ml100k", "dataset.negatives.num=5", f"dataset.url={url}",
         f"dataset.archive_checksum={checksum}", f"paths.raw_dir={dirs['raw']}",
         f"paths.processed_dir={dirs['processed']}", "paths.verify_checksums=false"]
    )


def _zip_ml100k(tmp: Path) -> Path:
    src = write_ml100k(tmp / "src")
    archive = tmp / "ml-100k.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for f in src.iterdir():
            z.write(f, f"ml-100k/{f.name}")
    return archive


def test_download_verifies_and_extracts(dirs, tmp_path):
    archive = _zip_ml100k(tmp_path)
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    out = prepare(_official_cfg(dirs, archive.as_uri(), f"md5:{md5}"))
    assert (dirs["raw"] / "ml-100k" / "u.data").exists()
    assert (out / "meta.json").exists()


def test_download_checksum_mismatch_keeps_nothing(dirs, tmp_path):
    archive = _zip_ml100k(tmp_path)
    with pytest.raises(DataError, match="checksum mismatch"):
        prepare(_official_cfg(dirs, archive.as_uri(), "md5:" + "0" * 32))
    assert list(dirs["raw"].iterdir()) == []


def test_truncated_zip(tmp_path):
    archive = _zip_ml100k(tmp_path)
    cut = tmp_path / "cut.zip"
    cut.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(DataError, match="zip") as e:
        safe_extract_zip(cut, tmp_path / "out")
    assert e.value.path == str(cut)


def test_zip_member_escaping_target_is_refused(tmp_path):
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("ok.txt", "fine")
        z.writestr("../escaped.txt", "bad")
    with pytest.raises(DataError, match="outside"):
        safe_extract_zip(evil, tmp_path / "target")
    assert not (tmp_path / "escaped.txt").exists()
    assert not (tmp_path / "target" / "ok.txt").exists()  # checked before anything is written


def test_unreachable_url_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="could not download"):
        download((tmp_path / "nope.zip").as_uri(), tmp_path / "x.zip", None)
    assert not (tmp_path / "x.zip.part").exists()


@pytest.mark.slow
def test_entry_point_user_error_has_no_traceback(dirs):
    write_table(dirs["raw"] / "r.csv", [(1, 2, 3), (1, "oops", 4)], ("user", "item", "rating"))
    r = run_module("data_prep", "dataset=csv", "dataset.path=r.csv", "dataset.columns.rating=rating",
                   *path_overrides(dirs))
    assert r.returncode == 2
    assert "r.csv, line 3" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout


@pytest.mark.slow
def test_entry_point_config_typo_fails_before_reading(dirs):
    r = run_module("data_prep", "dataset=ml100k", "dataset.splt.kind=loo", *path_overrides(dirs))
    assert r.returncode != 0
    assert "splt" in r.stderr
    r = run_module("data_prep", "dataset=ml100k", "dataset.split.kind=lol", *path_overrides(dirs))
    assert r.returncode != 0 and "lol" in r.stderr


def test_given_split_needs_a_source_split(dirs):
    write_table(dirs["raw"] / "r.csv", GOOD, ("user", "item", "rating"))
    with pytest.raises(UserError, match="split.kind=given"):
        prepare(_csv_cfg(dirs, "r.csv", "dataset.split.kind=given"))

"""Fetch official archives with checksum verification, and extract them safely."""

from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from data_prep.errors import DataError, UserError
from data_prep.store import verify_checksum


def download(url: str, dest: Path, checksum: str | None) -> Path:
    """Download `url` to `dest` through `dest.part`, verify it, then rename it into place."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(part, "wb") as out:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"download {dest.name}") as bar:
                while block := resp.read(1 << 16):
                    out.write(block)
                    bar.update(len(block))
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        part.unlink(missing_ok=True)
        raise UserError(
            f"could not download {url} ({e}). Put the official files under {dest.parent} "
            "yourself, or point paths.raw_dir (env GCFA_RAW_DIR) at a folder that has them"
        ) from e
    try:
        if checksum:
            verify_checksum(part, checksum)
    except DataError:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, dest)
    return dest


def safe_extract_zip(archive: Path, target: Path) -> list[Path]:
    """Extract a zip into `target`, refusing members that would land outside it or are links."""
    target = target.resolve()
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as e:
        raise DataError(archive, f"not a readable zip archive ({e}); delete it to download it again") from e
    written: list[Path] = []
    with zf:
        for info in zf.infolist():
            name = PurePosixPath(info.filename)
            dest = (target / Path(*name.parts)).resolve() if name.parts else target
            if name.is_absolute() or ".." in name.parts or not dest.is_relative_to(target):
                raise DataError(archive, f"member {info.filename!r} would be written outside {target}; refusing")
            mode = (info.external_attr >> 16) & 0o170000
            if mode == 0o120000:
                raise DataError(archive, f"member {info.filename!r} is a symbolic link; refusing")
        for info in zf.infolist():
            dest = (target / Path(*PurePosixPath(info.filename).parts)).resolve()
            if info.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(dest.name + ".part")
            try:
                with zf.open(info) as src, open(tmp, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
            except (zipfile.BadZipFile, EOFError, OSError, zipfile.LargeZipFile) as e:
                tmp.unlink(missing_ok=True)
                raise DataError(archive, f"truncated or corrupt at member {info.filename!r} ({e})") from e
            os.replace(tmp, dest)
            written.append(dest)
    return written

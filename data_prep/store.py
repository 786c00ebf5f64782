"""Checksums, fingerprints and atomic writes of the processed directory.

A processed dataset lives in `<processed_dir>/<name>/<fingerprint>/`. It is built in a sibling
temporary directory and renamed into place only when complete, so a crash, a full disk or a kill
leaves either the finished directory or nothing, never a half-written one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from data_prep.errors import DataError, UserError

log = logging.getLogger(__name__)

# Bump when the processing logic changes what it writes: old directories then stop matching.
PREP_VERSION = 1
META_NAME = "meta.json"


def file_digest(path: str | Path, algo: str = "sha256", chunk: int = 1 << 20) -> str:
    """Hex digest of a file; `gitsha1` is git's blob id, the one public copies are known by."""
    path = Path(path)
    if algo == "gitsha1":
        h = hashlib.sha1()
        h.update(f"blob {path.stat().st_size}\0".encode())
    else:
        h = hashlib.new(algo)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify_checksum(path: str | Path, expected: str) -> None:
    """Check `path` against "algo:hex" (several alternatives joined by "|")."""
    options = [e.strip() for e in expected.split("|") if e.strip()]
    seen: dict[str, str] = {}
    for opt in options:
        algo, _, want = opt.partition(":")
        if algo not in ("sha256", "md5", "sha1", "gitsha1") or not want:
            raise DataError(path, f"unknown checksum spec {opt!r} (use sha256:, md5: or gitsha1:)")
        if algo not in seen:
            seen[algo] = file_digest(path, algo)
        if seen[algo] == want.lower():
            return
    got = ", ".join(f"{a}:{h}" for a, h in seen.items())
    raise DataError(
        path,
        f"checksum mismatch: expected {expected}, got {got}. The file is corrupt, truncated or "
        "not the official release; delete it to download it again",
    )


def fingerprint(payload: dict[str, Any]) -> str:
    """Short stable hash of a JSON-able description of the inputs and settings."""
    blob = json.dumps({"prep_version": PREP_VERSION, **payload}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def write_failed(target: Path, e: OSError) -> UserError:
    """A failed write (full disk, quota, read-only or forbidden folder) as a one-line user error."""
    return UserError(f"cannot write {target}: {e.strerror or e}. Nothing there was replaced; free space "
                     "or point the output elsewhere, then rerun")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> None:
    """Write through a temporary file in the same directory, fsync, then rename over `path`. The
    file gets the permissions of a plain `open` under the user's umask (mkstemp's are 0600)."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise write_failed(path, e) from e
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_stale_staging(parent: Path) -> list[Path]:
    """Remove the staging folders in `parent` that a killed build left behind: those of this
    machine whose process is gone (`.<name>.<host>-<pid>-….building`), and others (another
    machine's on a shared disk, or without a process id) once a day old. Returns what was removed."""
    host, gone = _host(), []
    for p in parent.glob(".*.building") if parent.is_dir() else ():
        m = re.fullmatch(r"\..+\.(?P<host>[^.]+)-(?P<pid>\d+)-[^.]*\.building", p.name)
        ours = m is not None and m["host"] == host
        try:
            old = time.time() - p.stat().st_mtime > 86_400
        except FileNotFoundError:  # removed meanwhile
            continue
        if (ours and not _alive(int(m["pid"]))) or (not ours and old):
            shutil.rmtree(p, ignore_errors=True)
            gone.append(p)
    return gone


def _host() -> str:
    return socket.gethostname().replace(".", "_").replace("-", "_")


@contextmanager
def staging_dir(final: Path, replace: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary directory beside `final`; rename it to `final` on success.

    On any error the temporary directory is removed and `final`, if it existed, is untouched.
    With `replace`, an existing `final` is swapped out only once the new one is complete. Its name
    carries this machine and process, so that a later run can tell a killed build's leftovers from
    a build still running (`remove_stale_staging`). It gets the user's umask, as `final` would.
    """
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        for p in remove_stale_staging(final.parent):
            log.warning("removed %s, left by an interrupted preparation", p)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.{_host()}-{os.getpid()}-", suffix=".building",
                                    dir=final.parent))
        os.chmod(tmp, 0o777 & ~_umask())
    except OSError as e:
        raise write_failed(final, e) from e
    try:
        yield tmp
        if final.exists() and replace:
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        elif final.exists():  # built concurrently by another process: keep the existing one
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, final)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError):
            raise write_failed(final, e) from e
        raise


def output_checksums(directory: Path, names: list[str]) -> dict[str, str]:
    return {n: "sha256:" + file_digest(directory / n) for n in names}


def verify_outputs(directory: Path) -> dict[str, Any]:
    """Read meta.json and check every output file against its recorded checksum."""
    meta_path = directory / META_NAME
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(meta_path, f"unreadable ({e}); rerun `make data` to rebuild it") from e
    for name, expected in meta.get("checksums", {}).items():
        p = directory / name
        if not p.exists():
            raise DataError(p, "missing; rerun `make data` to rebuild the processed dataset")
        try:
            verify_checksum(p, expected)
        except DataError as e:
            raise DataError(
                p, "does not match the checksum in meta.json (corrupted?); delete "
                f"{directory} and rerun `make data`"
            ) from e
    return meta

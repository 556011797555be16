"""The archive root: a local folder, or object storage through fsspec.

Open files are written in a local staging folder and published whole: on a local root by an
atomic rename into place (after fsync of the file, then of the folder); on object storage by
one upload, which appears atomically under its final name. Readers never see a partial file.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import fsspec  # type: ignore[import-untyped, unused-ignore]
from fsspec.implementations.local import LocalFileSystem  # type: ignore[import-untyped, unused-ignore]

from consumers.archival.exceptions import ArchiveOptionError, ArchiveReadError
from consumers.archival.layout import STAGING_FOLDER, ArchiveFile, parse_path, relative_path

DIR_MODE = 0o700
REMOTE_STAGING = Path(".lkbus/archive-staging")


def make_dirs(path: Path) -> None:
    """Create `path` and its missing parents owner-only, and make the new entries durable."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=DIR_MODE)
        fsync_dir(folder.parent)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ArchiveRoot:
    """Files under a root URL or folder. No I/O in the constructor."""

    def __init__(self, url: str, staging_dir: Path | None = None) -> None:
        try:
            fs, base = fsspec.core.url_to_fs(url)
        except ImportError as exc:
            protocol = url.split("://", 1)[0]
            raise ArchiveOptionError(
                f"archive root {url!r} needs the fsspec backend for {protocol}:// "
                f"(pip install s3fs, gcsfs or adlfs): {exc}"
            ) from None
        except ValueError as exc:
            raise ArchiveOptionError(f"archive root {url!r} is not a folder or fsspec URL: {exc}") from None
        self.url = url
        self.fs: Any = fs
        self.base: str = str(base).rstrip("/") or "/"
        self.local = isinstance(fs, LocalFileSystem)
        self.staging = staging_dir or (Path(self.base) / STAGING_FOLDER if self.local else REMOTE_STAGING)

    # --- writing -----------------------------------------------------------------------------

    def prepare(self) -> None:
        """Create the staging folder (and a local root)."""
        make_dirs(self.staging)

    def staging_path(self, name: str) -> Path:
        return self.staging / name

    def publish(self, staged: Path, topic: str, hour: datetime, name: str) -> str:
        """Move a closed, fsynced file from staging to its final name; returns its path."""
        rel = relative_path(topic, hour, name)
        if self.local:
            final = Path(self.base) / rel
            make_dirs(final.parent)
            os.replace(staged, final)
            fsync_dir(final.parent)
            return str(final)
        target = f"{self.base}/{rel}"
        self.fs.put_file(str(staged), target)
        staged.unlink()
        return target

    def clean_staging(self, prefix: str) -> int:
        """Delete stale open files whose names start with `prefix` (left by a crash)."""
        if not self.staging.is_dir():
            return 0
        removed = 0
        for entry in self.staging.iterdir():
            if entry.name.startswith(prefix) and entry.name.endswith(".tmp"):
                entry.unlink(missing_ok=True)
                removed += 1
        return removed

    # --- reading -----------------------------------------------------------------------------

    def files(self, topics: Iterable[str] | None = None) -> list[ArchiveFile]:
        """Archive files under the root (or the root itself when it is a file), in offset order."""
        wanted = set(topics) if topics is not None else None
        found: dict[str, Any] = {}
        try:
            if self.fs.isfile(self.base):
                found = {self.base: self.fs.info(self.base)}
            elif wanted is not None and any(self.fs.isdir(f"{self.base}/{t}") for t in wanted):
                for topic in wanted:
                    found.update(self._find(f"{self.base}/{topic}"))
            else:
                found = self._find(self.base)
        except OSError as exc:
            raise ArchiveReadError(f"cannot list the archive at {self.url}: {exc}") from exc
        files = []
        for path, info in found.items():
            if f"/{STAGING_FOLDER}/" in path:
                continue
            parsed = parse_path(path, int(info.get("size") or 0))
            if parsed is not None and (wanted is None or parsed.topic in wanted):
                files.append(parsed)
        files.sort(key=lambda f: (f.topic, f.partition, f.first_offset))
        return files

    def _find(self, path: str) -> dict[str, Any]:
        if not self.fs.exists(path):
            return {}
        found: dict[str, Any] = self.fs.find(path, detail=True)
        return found

    def open(self, path: str) -> IO[bytes]:
        try:
            fh: IO[bytes] = self.fs.open(path, "rb")
        except OSError as exc:
            raise ArchiveReadError(f"cannot open archive file {path}: {exc}") from exc
        return fh

    def delete(self, file: ArchiveFile) -> None:
        """Delete an archive file (and, on a local root, its folders once empty)."""
        try:
            self.fs.rm_file(file.path)
        except FileNotFoundError:
            return
        if self.local:
            folder = Path(file.path).parent
            root = Path(self.base)
            while folder != root and root in folder.parents:
                try:
                    folder.rmdir()
                except OSError:
                    break
                folder = folder.parent

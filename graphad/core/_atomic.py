"""Atomic file writes, shared by every save (``ga.save``, ``ga.export``, ``nn`` models).

A file is written to a temporary file in the target's directory, flushed to
disk, then renamed over the target, so an interrupted or failed write leaves
the old file (or none) and never half a file.  The new file keeps the mode of
the file it replaces, or gets the process umask's default for a new file
(``0o666 & ~umask``, as ``open(path, "w")`` would): the temporary file is
created with ``os.open(..., 0o666)``, whose mode the kernel masks with the
umask, rather than with ``tempfile.mkstemp``, whose 0600 would leak onto the
target.  Several files are written all or nothing (:func:`atomic_write_many`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Callable, Sequence
from typing import IO

from .errors import GraphadError

__all__ = ["atomic_write", "atomic_write_many", "NotRegularFileError"]


class NotRegularFileError(GraphadError, OSError):
    """The target exists and is not a regular file: renaming over it would replace it."""


Writer = Callable[[IO[bytes]], object]


def atomic_write(path: str | os.PathLike, write: Writer) -> None:
    """Write ``path`` atomically: ``write(fh)`` fills a binary file handle.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "a.txt")
    >>> atomic_write(path, lambda fh: fh.write(b"hello"))
    >>> open(path, "rb").read()
    b'hello'
    """
    atomic_write_many([(path, write)])


def atomic_write_many(files: Sequence[tuple[str | os.PathLike, Writer]]) -> None:
    """Write several files, all or nothing.

    Every file is written to its temporary file first; only then are they
    renamed into place, in order.  If a rename fails, the targets already
    replaced get their old contents back (kept as hard links while the
    renames run) or, if they did not exist, are removed.
    """
    staged: list[tuple[str, str]] = []  # (temporary file, target)
    backups: list[str] = []
    try:
        for path, write in files:
            path = os.fspath(path)
            staged.append((_stage(path, write), path))
        done: list[tuple[str, str | None, bool]] = []  # (target, old contents, existed)
        try:
            for k, (tmp, path) in enumerate(staged):
                # the last rename needs no way back: nothing can fail after it
                backup = _keep_old(path) if k < len(staged) - 1 else None
                if backup is not None:
                    backups.append(backup)
                existed = backup is not None or os.path.lexists(path)
                os.replace(tmp, path)
                done.append((path, backup, existed))
        except BaseException:
            for path, backup, existed in reversed(done):
                try:
                    if backup is not None:
                        os.replace(backup, path)
                    elif not existed:
                        os.unlink(path)
                    # else: replaced, and no way back (no hard links): the new file stays
                except OSError:
                    pass
            raise
    finally:
        for name in [t for t, _ in staged] + backups:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)


def _temp_name(path: str) -> str:
    directory = os.path.dirname(os.path.abspath(path))
    return os.path.join(directory, f".graphad-{secrets.token_hex(8)}.tmp")


def _stage(path: str, write: Writer) -> str:
    """Write a temporary file next to ``path`` with the mode ``path`` should end with."""
    try:
        st = os.stat(path)
    except OSError:  # a new file (or one we cannot stat): the umask decides
        mode = None
    else:
        if not stat.S_ISREG(st.st_mode):
            # a rename would replace a device (/dev/full), a FIFO or a directory entry
            raise NotRegularFileError(f"cannot write {path!r}: it exists and is not a regular file")
        mode = stat.S_IMODE(st.st_mode)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = _temp_name(path)
        try:
            fd = os.open(tmp, flags, 0o666)
            break
        except FileExistsError:  # pragma: no cover - 64 random bits collided
            continue
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return tmp


def _keep_old(path: str) -> str | None:
    """A hard link to the current ``path`` (to put it back), or None if there is none."""
    if not os.path.isfile(path) or os.path.islink(path):
        return None
    backup = _temp_name(path)
    try:
        os.link(path, backup)
    except OSError:  # no hard links here: the old file cannot be restored
        return None
    return backup

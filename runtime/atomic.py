"""Writing files and folders whole or not at all: a temporary beside the target, then a rename.

What they write gets the permissions any new file gets (0666, or 0777 for a
folder, less the process's umask), not mkstemp's 0600. A temporary is removed
on every exit these functions see, an exception or KeyboardInterrupt alike (the
CLI turns SIGTERM into an exception, so a kill by SIGTERM cleans up too); only
SIGKILL or a power cut can leave a `.tmp-*` beside the target, and never a
half-written target.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

_UMASK_LOCK = threading.Lock()


def umask() -> int:
    """The process's umask, read without changing it where Linux says it (/proc/self/status), else set and
    restored under a lock (a brief window in which another thread's new files would get mode 0)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def _folder_error(exc: OSError, path: str, folder: str) -> OSError:
    """exc (raised for a temporary's path) restated for the path the caller asked for."""
    if exc.errno == errno.ENOENT and not os.path.isdir(folder):
        reason = f"the folder {folder} does not exist"
    elif exc.errno == errno.ENOTDIR:
        reason = f"{folder} is not a folder"
    else:
        reason = exc.strerror or str(exc)
    return type(exc)(exc.errno, f"cannot write {path}: {reason}")


def write_atomic(path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then rename: never a half-written file.

    An OSError names `path`, never the temporary (e.g. "cannot write out/m.mfb: the folder out does not exist").
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    except OSError as exc:
        raise _folder_error(exc, path, os.path.dirname(path) or ".") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), 0o666 & ~umask())  # mkstemp made it 0600
            os.fsync(f.fileno())
        try:
            os.replace(tmp, path)
        except IsADirectoryError:
            raise IsADirectoryError(errno.EISDIR, f"cannot write {path}: it is a folder") from None
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@contextmanager
def replace_folder(path, keep=()):
    """Build a folder's new contents in a temporary folder beside it, then put it in `path`'s place.

        with replace_folder("out/model") as tmp:
            (tmp / "a.h").write_bytes(...)           # the whole new contents, written here

    On leaving the block normally: a new `path` is renamed into place; an
    existing one is renamed away (to `.NAME.old-*` beside it), the new one
    renamed in, then the old one deleted. A rename is atomic, so a kill leaves
    either the old folder or the new one at `path` (after SIGKILL between the
    two renames: no `path`, and the old and new folders beside it under those
    hidden names), never old files beside new ones. `keep`: names of files in
    the existing folder to carry into the new one unchanged (hard links where
    the file system has them, else copies). On an exception the temporary is
    removed and the old folder stays (or is put back). The new folder gets mode
    0777 less the umask. Parent folders are created.
    """
    target = Path(os.path.realpath(os.fspath(path)))  # a link to a folder: the folder it names
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=parent))
    except OSError as exc:
        raise _folder_error(exc, os.fspath(path), str(parent)) from None
    old = None
    try:
        os.chmod(tmp, 0o777 & ~umask())
        for name in keep:
            if os.path.islink(target / name):
                os.symlink(os.readlink(target / name), tmp / name)
                continue
            try:
                os.link(target / name, tmp / name)
            except OSError:
                shutil.copy2(target / name, tmp / name)
        yield tmp
        if os.path.lexists(target):
            old = parent / f".{target.name}.old-{secrets.token_hex(4)}"
            os.rename(target, old)
        os.rename(tmp, target)
    finally:
        if tmp.exists():
            if old is not None and not os.path.lexists(target):
                os.rename(old, target)  # the swap did not happen: the old folder goes back
                old = None
            shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)

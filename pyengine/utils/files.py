"""Files written whole: nothing a user saved is lost when a write is interrupted."""
from __future__ import annotations

import os
import tempfile


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once, at import: reading it means setting it, which would briefly give
# files that other threads create meanwhile the mode 0666.
_UMASK = _read_umask()


def atomic_write(path: str, write) -> None:
    """Calls write(temporary_path) for a file in ``path``'s folder, then renames
    the complete file onto ``path`` (atomic on POSIX): an interrupted write
    leaves the previous file intact and no partial one."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.splitext(path)[1])
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes the file private; give it a normal file's mode
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise

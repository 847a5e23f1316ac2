"""Errors whose message is meant for the user: the CLI prints them on one line and exits 1,
the GUI shows them in the status bar or a message box and keeps working."""

import errno


class UserError(Exception):
    """Something the user can act on: a bad file, missing data, an unknown name."""


class ModelError(UserError):
    """A model cannot be built or its weights cannot be loaded; the message is for users."""


def describe_os_error(exc: OSError) -> str:
    """A short reason for an OSError, by its errno (never by its text)."""
    reasons = {
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.ENOENT: "no such file or folder",
        errno.ENOSPC: "disk full",
        errno.EROFS: "read-only file system",
        errno.EISDIR: "is a folder",
        errno.ENOTDIR: "a part of the path is not a folder",
        errno.EIO: "input/output error",
        errno.EEXIST: "a file is in the way",
        errno.ENAMETOOLONG: "file name too long",
    }
    return reasons.get(exc.errno, exc.strerror or type(exc).__name__)

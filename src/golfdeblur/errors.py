"""The exceptions the command line turns into a single clear line on stderr and a non-zero exit code, and how an
OSError's reason, or a path that is no regular file, reads in such a line."""

import os
import re


class GolfdeblurError(Exception):
    """An error the user can act on. Its message is one line naming the thing (file, setting) and the reason."""


class DeblurSettingsError(GolfdeblurError, ValueError):
    """An input or setting that deblur cannot use (shape, dtype, tile, device, precision). One-line message."""


class WeightsError(GolfdeblurError):
    """Weights that cannot be used: missing, unreadable, corrupt, or failing their checksum. One-line message."""


def not_a_regular_file(path: str | os.PathLike[str]) -> str | None:
    """What stands at ``path`` when something does but it is no regular file (nor a link to one): "is a folder", or
    "not a regular file (a pipe, socket or device)"; None otherwise (a regular file, or nothing at all). Asked before
    any open: opening a named pipe with no writer blocks for good, and a device such as /dev/zero reads for ever.

    Example:
        >>> not_a_regular_file("/"), not_a_regular_file("/dev/null"), not_a_regular_file("/no/such/file")
        ('is a folder', 'not a regular file (a pipe, socket or device)', None)
    """
    if not os.path.exists(path) or os.path.isfile(path):
        return None
    return "is a folder" if os.path.isdir(path) else "not a regular file (a pipe, socket or device)"


def os_reason(exc: OSError) -> str:
    """The reason an ``OSError`` gives, without its errno and file name: "permission denied", "file name too long".

    Example:
        >>> os_reason(PermissionError(13, "Permission denied", "photos")), os_reason(OSError("odd failure"))
        ('permission denied', 'odd failure')
    """
    reason = exc.strerror or str(exc) or type(exc).__name__
    return reason[:1].lower() + reason[1:]


# Control characters (C0, DEL, C1) and Unicode's line and paragraph separators: in a file name they would split the
# one line an error or note is (a newline) or act on the terminal (ESC).
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def printable(text: str) -> str:
    """``text`` with its control characters written as Python escapes (``\\n``, ``\\t``, ``\\x1b``), as Python's
    stderr writes a file name's undecodable bytes (``\\udcff``): an error about a file named "evil\\nname.png" stays
    one line, and a name cannot move the cursor or recolour the terminal.

    Example:
        >>> print(printable("evil\\nname.png: not an image file"))
        evil\\nname.png: not an image file
    """
    return CONTROL_CHARACTERS.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)

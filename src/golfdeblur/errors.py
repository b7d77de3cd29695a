"""The exceptions the command line turns into a single clear line on stderr and a non-zero exit code, and how an
OSError's reason, or a path that is no regular file, reads in such a line. File names are made safe to print here
too: control characters escaped (:func:`printable`), a name's undecodable bytes (the surrogates
``LONE_SURROGATES`` matches) written as ``\\xNN`` (:func:`undecodable_escaped`), and a name quoted as one shell word
(:func:`shell_word`)."""

import os
import re
import shlex


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


# Lone surrogates: how Python holds the bytes of a file name that are not UTF-8 (PEP 383: byte 0xNN as U+DCNN).
LONE_SURROGATES = re.compile("[\ud800-\udfff]")


def undecodable_escaped(text: str) -> str:
    """``text`` with the undecodable bytes of a file name (PEP 383's surrogates) written as ``\\xNN``, as
    ``os.fsencode(name).decode("utf-8", "backslashreplace")`` shows them: text that names such a file can then be
    written as UTF-8 (a report, a CSV), readably, instead of failing after the work it reports on. Any other lone
    surrogate (none comes from a file name) is written as ``\\udNNN``.

    Example:
        >>> print(undecodable_escaped(os.fsdecode(b"runs/caf\\xe9 \\xff.png")), undecodable_escaped("caf\\u00e9"))
        runs/caf\\xe9 \\xff.png café
    """
    return LONE_SURROGATES.sub(_escaped_surrogate, text)


def _escaped_surrogate(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


_SHELL_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\\": "\\\\", "'": "\\'"}


def shell_word(text: str) -> str:
    """``text`` as one word of a command line a user can paste into a shell: ``shlex.quote``'s, except that text
    holding control characters (a newline) or a file name's undecodable bytes (surrogates) is written as bash's
    ``$'...'`` (zsh and ksh read it too) with escapes, so that the command stays on one line and names the same bytes
    (``shlex.quote`` would keep the newline, and the text written as UTF-8 would name ``\\xff`` literally).

    Example:
        >>> print(shell_word("a b"), shell_word("é日本"), shell_word("it's\\n"), shell_word(os.fsdecode(b"x\\xff")))
        'a b' 'é日本' $'it\\'s\\n' $'x\\xff'
    """
    if not CONTROL_CHARACTERS.search(text) and not LONE_SURROGATES.search(text):
        return shlex.quote(text)
    return "$'" + "".join(_shell_escaped(character) for character in text) + "'"


def _shell_escaped(character: str) -> str:
    code = ord(character)
    if 0xDC80 <= code <= 0xDCFF:  # a file name's undecodable byte
        return f"\\x{code - 0xDC00:02x}"
    if character in _SHELL_ESCAPES:
        return _SHELL_ESCAPES[character]
    if CONTROL_CHARACTERS.match(character) or LONE_SURROGATES.match(character):  # as the bytes they are in UTF-8
        return "".join(f"\\x{byte:02x}" for byte in character.encode("utf-8", "surrogatepass"))
    return character

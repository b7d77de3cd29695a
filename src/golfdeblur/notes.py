"""How golfdeblur tells the user something that is not an error (a slow precision, metadata a format cannot hold, a
resumed run's recipe): one line on stderr, ``golfdeblur: note: TEXT``, as the command line's warnings
(``golfdeblur: warning:``) and errors (``golfdeblur: error:``) read, so that all three can be told apart and grepped.
The error line the command line prints for an exception is made here too (``error_line``), so that a training run's
train.log ends with the very line stderr shows, and so are its parts, which deblur's line for one failed input is
made of (``error_text_line``, ``os_error_reason``, ``out_of_memory_reason``)."""

import contextlib
import sys
from collections.abc import Callable, Iterator

from golfdeblur.errors import GolfdeblurError, printable

# How torch's allocators say they ran out (CUDA, and the CPU's DefaultCPUAllocator in its two wordings).
# "Invalid buffer size: 19.45 GB": Apple's MPS asked for a tensor larger than one buffer takes (pytorch#141909);
# "CUDNN_STATUS_ALLOC_FAILED", "CUBLAS_STATUS_ALLOC_FAILED": cuDNN and cuBLAS could not allocate their workspace
MEMORY_SIGNS = ("out of memory", "not enough memory", "can't allocate memory", "Invalid buffer size", "_ALLOC_FAILED")

# who else is told each note's and warning's line (``notes_also_to``): a training run's train.log
_listeners: list[Callable[[str], None]] = []


def note(text: str) -> None:
    """Print ``golfdeblur: note: TEXT`` on stderr, its control characters escaped (``errors.printable``), so that a
    file name holding a newline keeps the note one line. Written through ``tqdm.write``, which lifts a progress bar
    (deblur's) out of the way and puts it back below the note, as deblur's own lines do.

    Args:
        text: what to say, without a prefix; it may name files.

    Example:
        >>> import contextlib, io
        >>> with contextlib.redirect_stderr(io.StringIO()) as err:
        ...     note("new\\nline.png: written without its XMP")
        >>> print(err.getvalue(), end="")
        golfdeblur: note: new\\nline.png: written without its XMP
    """
    # here, not above: image_writing imports this module, and `golfdeblur --help` need not load tqdm
    from tqdm import tqdm

    line = f"golfdeblur: note: {printable(text)}"
    tell_listeners(line)  # first: a stderr that fails (a hung-up terminal) leaves the copy kept
    if sys.stderr is not None:  # None: started with stderr closed (tqdm.write would write to stdout instead)
        tqdm.write(line, file=sys.stderr)


def tell_listeners(line: str) -> None:
    """Hand ``line`` (one line of stderr's, without its newline: a note's, or the command line's ``golfdeblur:
    warning:``) to the listeners ``notes_also_to`` set."""
    for listener in list(_listeners):
        listener(line)


@contextlib.contextmanager
def notes_also_to(listener: Callable[[str], None]) -> Iterator[None]:
    """Within the block, every note's line, as stderr shows it without its newline, is handed to ``listener`` too, and
    so is every warning line of the command line's (``cli.package_warnings_as_lines``): training keeps them in the run
    folder's train.log, which outlives a closed terminal.

    Example:
        >>> import contextlib, io
        >>> kept = []
        >>> with notes_also_to(kept.append), contextlib.redirect_stderr(io.StringIO()):
        ...     note("resumed")
        >>> kept
        ['golfdeblur: note: resumed']
    """
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


def error_text_line(text: str) -> str:
    """``golfdeblur: error: TEXT``, its control characters escaped (``errors.printable``): the one line every error
    the command line reports is, whether it ends the command (``error_line``) or one input of several (deblur's).

    Example:
        >>> print(error_text_line("new\\nline.png: no such file"))
        golfdeblur: error: new\\nline.png: no such file
    """
    return f"golfdeblur: error: {printable(text)}"


def os_error_reason(exc: OSError, named: str | None = None) -> str:
    """What went wrong in ``exc``, as the error line says it: ``<its file>: <the OS's reason>`` (no errno), e.g.
    ``photos: Permission denied``; the file left out where it is ``named``, which the line names already.

    Example:
        >>> denied = PermissionError(13, "Permission denied", "out/a.png")
        >>> os_error_reason(denied), os_error_reason(denied, named="out/a.png"), os_error_reason(OSError("odd"))
        ('out/a.png: Permission denied', 'Permission denied', 'odd')
        >>> os_error_reason(OSError()), os_error_reason(OSError("first\\nsecond"))
        ('OSError', 'first')
    """
    where = f"{exc.filename}: " if exc.filename and str(exc.filename) != named else ""
    # an OSError with neither a reason nor a message (OSError()) is named by its class, not left blank
    return f"{where}{exc.strerror or (str(exc).splitlines() or [type(exc).__name__])[0]}"


def out_of_memory_reason(exc: BaseException) -> str | None:
    """``out of memory (<the first line of exc>); try smaller settings`` when ``exc`` says memory ran out (a
    ``MemoryError``, or a ``RuntimeError`` with one of ``MEMORY_SIGNS``, as torch reports it), else None.

    Example:
        >>> out_of_memory_reason(MemoryError()), out_of_memory_reason(RuntimeError("a bug"))
        ('out of memory (MemoryError); try smaller settings', None)
    """
    if not isinstance(exc, (MemoryError, RuntimeError)):
        return None
    text = str(exc).strip()
    if not isinstance(exc, MemoryError) and not any(sign in text for sign in MEMORY_SIGNS):
        return None
    reason = text.splitlines()[0] if text else type(exc).__name__
    # Shared by every command: the hint names no option, since many commands lack any one of them (show-data has no
    # tile, deblur no widths); each command's --help says which settings it has.
    return f"out of memory ({reason}); try smaller settings"


def error_line(exc: BaseException) -> str | None:
    """The one line the command line (``cli``) prints on stderr for ``exc`` ending a command, e.g. ``golfdeblur:
    error: photos: Permission denied``; None for an exception it prints no such line for (a reader gone, Ctrl-C, a
    bug's traceback). Shared with train.log, which ends with the same line.

    Example:
        >>> error_line(PermissionError(13, "Permission denied", "run/train.log"))
        'golfdeblur: error: run/train.log: Permission denied'
        >>> error_line(MemoryError())
        'golfdeblur: error: out of memory (MemoryError); try smaller settings'
        >>> error_line(RuntimeError("a bug")) is None
        True
    """
    if isinstance(exc, GolfdeblurError):
        return error_text_line(str(exc))
    if isinstance(exc, BrokenPipeError):  # `golfdeblur weights | head -1`: silent, as Unix tools are
        return None
    if isinstance(exc, OSError):  # a file or folder no command checked for: no permission, a file where a folder goes
        return error_text_line(os_error_reason(exc))
    reason = out_of_memory_reason(exc)  # torch reports running out of memory as a RuntimeError
    return None if reason is None else error_text_line(reason)

"""How golfdeblur tells the user something that is not an error (a slow precision, metadata a format cannot hold, a
resumed run's recipe): one line on stderr, ``golfdeblur: note: TEXT``, as the command line's warnings
(``golfdeblur: warning:``) and errors (``golfdeblur: error:``) read, so that all three can be told apart and grepped."""

import contextlib
import sys
from collections.abc import Callable, Iterator

from golfdeblur.errors import printable

# who else is told each note's line (``notes_also_to``): a training run's train.log
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
    for listener in list(_listeners):  # first: a stderr that fails (a hung-up terminal) leaves the copy kept
        listener(line)
    tqdm.write(line, file=sys.stderr)


@contextlib.contextmanager
def notes_also_to(listener: Callable[[str], None]) -> Iterator[None]:
    """Within the block, every note's line, as stderr shows it without its newline, is handed to ``listener`` too
    (training keeps its notes in the run folder's train.log, which outlives a closed terminal).

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

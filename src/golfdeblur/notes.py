"""How golfdeblur tells the user something that is not an error (a slow precision, metadata a format cannot hold, a
resumed run's recipe): one line on stderr, ``golfdeblur: note: TEXT``, as the command line's warnings
(``golfdeblur: warning:``) and errors (``golfdeblur: error:``) read, so that all three can be told apart and grepped."""

import sys

from golfdeblur.errors import printable


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

    tqdm.write(f"golfdeblur: note: {printable(text)}", file=sys.stderr)

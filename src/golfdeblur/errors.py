"""The exceptions the command line turns into a single clear line on stderr and a non-zero exit code, and how an
OSError's reason reads in such a line."""


class GolfdeblurError(Exception):
    """An error the user can act on. Its message is one line naming the thing (file, setting) and the reason."""


class DeblurSettingsError(GolfdeblurError, ValueError):
    """An input or setting that deblur cannot use (shape, dtype, tile, device, precision). One-line message."""


class WeightsError(GolfdeblurError):
    """Weights that cannot be used: missing, unreadable, corrupt, or failing their checksum. One-line message."""


def os_reason(exc: OSError) -> str:
    """The reason an ``OSError`` gives, without its errno and file name: "permission denied", "file name too long".

    Example:
        >>> os_reason(PermissionError(13, "Permission denied", "photos")), os_reason(OSError("odd failure"))
        ('permission denied', 'odd failure')
    """
    reason = exc.strerror or str(exc) or type(exc).__name__
    return reason[:1].lower() + reason[1:]

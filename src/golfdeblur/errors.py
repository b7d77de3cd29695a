"""The exceptions the command line turns into a single clear line on stderr and a non-zero exit code."""


class GolfdeblurError(Exception):
    """An error the user can act on. Its message is one line naming the thing (file, setting) and the reason."""


class DeblurSettingsError(GolfdeblurError, ValueError):
    """An input or setting that deblur cannot use (shape, dtype, tile, device, precision). One-line message."""

"""The one exception type the command line turns into a single clear line on stderr and a non-zero exit code."""


class GolfdeblurError(Exception):
    """An error the user can act on. Its message is one line naming the thing (file, setting) and the reason."""

"""``python -m golfdeblur``: the ``golfdeblur`` command, for an environment whose scripts folder is not on PATH."""

import sys

from golfdeblur.cli import main

sys.exit(main())

"""Subcommands of the `golfdeblur` command line, one module each (see golfdeblur/cli.py)."""

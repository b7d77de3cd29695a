"""OutputGuard: an output never replaces an input (under any name), a result written earlier in the run, or an
existing file unless asked; an extension we cannot write is refused before any work."""

import os
from pathlib import Path

import pytest

from golfdeblur.errors import GolfdeblurError
from golfdeblur.output_guard import OutputGuard


def test_outputs_that_would_destroy_data_are_refused(tmp_path: Path):
    photo = tmp_path / "a.png"
    photo.write_bytes(b"input")
    linked = tmp_path / "out" / "b.png"
    linked.parent.mkdir()
    os.link(photo, linked)  # the input under another name
    guard = OutputGuard([photo])
    for output in (photo, tmp_path / "out" / ".." / "a.png", linked):
        with pytest.raises(GolfdeblurError, match="would overwrite an input file"):
            guard.check(output, photo)
    with pytest.raises(GolfdeblurError, match="cannot choose a format"):
        guard.check(tmp_path / "out" / "a.jfif", photo)
    fresh = tmp_path / "out" / "c.png"
    guard.check(fresh, photo)
    guard.record(fresh, photo)
    with pytest.raises(GolfdeblurError, match="already written from"):
        guard.check(fresh, tmp_path / "other.png")
    existing = tmp_path / "out" / "d.png"
    existing.write_bytes(b"old")
    with pytest.raises(GolfdeblurError, match="exists; pass --overwrite"):
        guard.check(existing, photo)
    OutputGuard([photo], overwrite=True).check(existing, photo)  # allowed when asked
    assert photo.read_bytes() == b"input" and existing.read_bytes() == b"old"

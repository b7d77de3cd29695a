"""Tests for golfdeblur.checkout: a source checkout told from an installed package."""

from __future__ import annotations

from golfdeblur import checkout


def test_a_source_checkout_is_src_golfdeblur_beside_pyproject(tmp_path, monkeypatch):
    package = tmp_path / "repo" / "src" / "golfdeblur"
    package.mkdir(parents=True)
    monkeypatch.setattr(checkout, "PACKAGE_DIR", package)
    assert checkout.source_checkout() is None  # no pyproject.toml: a src/ folder of something else
    (tmp_path / "repo" / "pyproject.toml").write_text('[project]\nname = "other"\n')
    assert checkout.source_checkout() is None  # another project's src/ (pip install --target other/src)
    (tmp_path / "repo" / "pyproject.toml").write_text('[project]\nname = "golfdeblur"\nversion = "0"\n')
    assert checkout.source_checkout() == tmp_path / "repo"


def test_an_installed_package_has_no_checkout(tmp_path, monkeypatch):
    site = tmp_path / "lib" / "python3.11" / "site-packages"
    (site / "golfdeblur").mkdir(parents=True)
    (site.parent / "pyproject.toml").write_text("")  # even beside one: the package is not in a src/ folder
    monkeypatch.setattr(checkout, "PACKAGE_DIR", site / "golfdeblur")
    assert checkout.source_checkout() is None

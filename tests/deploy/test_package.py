"""The image installs the project with `pip install .` (deploy/Dockerfile), so the wheel must
carry every data file the processes load at run time: the tagging catalogue, the default alert
rules and feeds, the demo feeds, the Redis Lua script."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support.deploy import ROOT, SOURCE_TREES

pytestmark = pytest.mark.slow

DATA_SUFFIXES = {
    ".yaml",
    ".yml",
    ".toml",
    ".xml",
    ".json",
    ".lua",
    ".opml",
    ".html",
    ".css",
    ".js",
    ".svg",
}


def test_wheel_ships_the_runtime_data(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-v", "-w", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    # A quiet build: no deprecated metadata, no data folder left out of `packages`.
    for noise in ("SetuptoolsDeprecationWarning", "Package would be ignored"):
        assert noise not in built.stdout + built.stderr, noise
    (wheel,) = tmp_path.glob("newswatch-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        f"newswatch/{path.relative_to(ROOT).as_posix()}"
        for tree in SOURCE_TREES
        for path in tree.rglob("*")
        if path.suffix in DATA_SUFFIXES and "__pycache__" not in path.parts
    }
    assert expected, "no data files found in streams/ and agents/"
    missing = sorted(expected - shipped)
    assert not missing, f"data files missing from the wheel (pyproject package-data): {missing}"
    assert "newswatch/streams/cli/__init__.py" in shipped

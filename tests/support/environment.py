"""Where the tests run: the repository root, the optional `../shared/` folder, CI or not.

`unavailable()` is the one way a test or fixture gives up on a missing service or file: it
skips with the reason locally and fails under `CI=true`, where a run must never pass by
skipping.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Test data kept in the repository (feeds, stories, tagging sets).
DATA = ROOT / "tests" / "data"
SHARED = ROOT.parent / "shared"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    """Skip locally, fail under CI."""
    if IN_CI:
        pytest.fail(f"required service unavailable under CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


def shared_path(*parts: str) -> Path:
    """A path under ../shared/: absent, it skips with the reason, or fails under CI=true."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        unavailable(f"{path} not present (../shared/ lies beside the project root in dev and CI)")
    return path

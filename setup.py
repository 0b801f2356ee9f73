"""Package discovery only; all metadata lives in pyproject.toml.

setuptools cannot add a name prefix to discovered packages, so the `streams/` and `agents/`
trees are listed here as `newswatch.streams.*` and `newswatch.agents.*` (see package-dir).
Namespace discovery: data folders without an `__init__.py` (the catalogue, the demo feeds, the
newsroom's templates and static files) are packages too, so their files are package data and
setuptools does not warn that an importable folder is missing from `packages`.
"""

import os
from pathlib import Path

from setuptools import find_namespace_packages, setup
from setuptools_rust import Binding, RustExtension, Strip

_TREES = ("streams", "agents")
packages = [
    f"newswatch.{name}"
    for name in find_namespace_packages(
        include=[f"{tree}*" for tree in _TREES], exclude=["*__pycache__*"]
    )
]
# The compiled core of the tagging engine (agents/tagging/native, Rust + PyO3; see the tagging
# README). Optional: without cargo the install goes on and the pure-Python engine is used.
native = RustExtension(
    "newswatch.agents.tagging._native",
    path="agents/tagging/native/Cargo.toml",
    binding=Binding.PyO3,
    debug=False,  # editable installs would otherwise build unoptimised
    strip=Strip.All,
    py_limited_api=True,
    optional=True,
    # Cargo's build files go to build/ (ignored, removed by `make clean`), not into the
    # source tree beside the crate.
    env={
        **os.environ,
        "CARGO_TARGET_DIR": os.environ.get("CARGO_TARGET_DIR")
        or str(Path(__file__).resolve().parent / "build" / "cargo"),
    },
)
setup(packages=packages, rust_extensions=[native], zip_safe=False)

"""Package discovery only; all metadata lives in pyproject.toml.

setuptools cannot add a name prefix to discovered packages, so the `streams/` and `agents/`
trees are listed here as `newswatch.streams.*` and `newswatch.agents.*` (see package-dir).
"""

from setuptools import find_packages, setup

_TREES = ("streams", "agents")
packages = [f"newswatch.{name}" for name in find_packages(include=[f"{tree}*" for tree in _TREES])]
setup(packages=packages)

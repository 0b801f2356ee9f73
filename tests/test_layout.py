"""The test tree keeps the rules of tests/README.md: test folders mirror the source tree,
every folder is a package, helpers live in tests/support and are imported normally."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.environment import ROOT

TESTS = ROOT / "tests"
#: Folders grouped by kind whose subfolders mirror the source tree (streams/, agents/).
MIRRORED = ("unit", "integration", "fault")
#: Folders that are not tests of one component: the harness, broker tooling, data.
NOT_MIRRORED = ("support", "chaos", "kafka", "data", "e2e", "deploy")
#: Python files that may sit at the top of a kind folder: tests of the test services.
KIND_TOP_LEVEL = {"integration": {"test_apache_kafka.py", "test_services.py"}}
#: Loading code by path or editing the module path: the package import replaces both.
FORBIDDEN = re.compile(r"sys\.path\.(insert|append)|spec_from_file_location|\bimport testsupport")


def python_files() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "data" not in p.relative_to(TESTS).parts)


def test_every_folder_with_python_files_is_a_package() -> None:
    missing = sorted(
        str(p.parent.relative_to(ROOT))
        for p in python_files()
        if not (p.parent / "__init__.py").exists()
    )
    assert not missing, f"add an __init__.py to: {sorted(set(missing))}"


def test_no_module_path_edits_or_loading_by_file_path() -> None:
    offenders = [
        f"{p.relative_to(ROOT)}:{n}: {line.strip()}"
        for p in python_files()
        if p.name != "test_layout.py"
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if FORBIDDEN.search(line)
    ]
    assert not offenders, "import tests.support.* instead:\n" + "\n".join(offenders)


def test_test_folders_mirror_the_source_tree() -> None:
    """tests/<kind>/streams/<package>/ ↔ streams/<package>/, the same for agents/."""
    wrong = []
    for kind in MIRRORED:
        for p in (TESTS / kind).rglob("*.py"):
            rel = p.relative_to(TESTS / kind)
            if p.name == "__init__.py":
                continue
            if len(rel.parts) == 1:
                if p.name not in KIND_TOP_LEVEL.get(kind, set()):
                    wrong.append(f"tests/{kind}/{rel}: belongs under streams/ or agents/")
                continue
            source = ROOT.joinpath(*rel.parts[:-1])
            if rel.parts[0] not in ("streams", "agents") or not source.is_dir():
                wrong.append(f"tests/{kind}/{rel}: no source folder {source.relative_to(ROOT)}/")
    assert not wrong, "\n".join(wrong)


def test_helpers_live_in_tests_support() -> None:
    """Outside tests/support (and the chaos and broker tooling), a Python file is a test
    module, a conftest.py or an __init__.py."""
    allowed = {"conftest.py", "__init__.py"}
    stray = [
        str(p.relative_to(ROOT))
        for p in python_files()
        if p.parent == TESTS or p.relative_to(TESTS).parts[0] not in NOT_MIRRORED[:3]
        if not p.name.startswith("test_") and p.name not in allowed
    ]
    assert not stray, f"move helpers into tests/support/: {stray}"


def test_top_level_folders_are_known() -> None:
    folders = {p.name for p in TESTS.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders <= set(MIRRORED) | set(NOT_MIRRORED), sorted(folders)

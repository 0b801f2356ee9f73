#!/usr/bin/env python3
"""Check that commit subjects are at most 72 characters (the detail belongs in the body).

Subjects are counted in characters, not bytes. The history before FIRST_CHECKED is published
and is not rewritten; every commit after it is checked. `make lint` runs this; the
`.githooks/commit-msg` hook (enable with `git config core.hooksPath .githooks`) applies the
same rule before a commit is made.

Usage: commit_subjects.py            check FIRST_CHECKED..HEAD
       commit_subjects.py --file F   check the message in F (the commit-msg hook)
"""

from __future__ import annotations

import subprocess
import sys

MAX_SUBJECT = 72
FIRST_CHECKED = "b2e444f"


def too_long(subject: str) -> bool:
    return len(subject) > MAX_SUBJECT


def check_file(path: str) -> int:
    with open(path, encoding="utf-8") as fh:
        lines = [ln for ln in fh.read().splitlines() if not ln.startswith("#")]
    subject = next((ln for ln in lines if ln.strip()), "")
    if too_long(subject):
        print(f"commit subject is {len(subject)} characters (max {MAX_SUBJECT}): {subject}")
        return 1
    return 0


def check_history() -> int:
    known = subprocess.run(
        ["git", "rev-parse", "-q", "--verify", f"{FIRST_CHECKED}^{{commit}}"],
        capture_output=True,
        text=True,
    )
    if known.returncode != 0:
        print(f"commit subjects: {FIRST_CHECKED} not in this clone (shallow?); not checked")
        return 0
    log = subprocess.run(
        ["git", "log", "--format=%h%x00%s", f"{FIRST_CHECKED}..HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    bad = [line.split("\0", 1) for line in log.splitlines() if too_long(line.split("\0", 1)[1])]
    for sha, subject in bad:
        print(f"{sha}: subject is {len(subject)} characters (max {MAX_SUBJECT}): {subject}")
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--file":
        sys.exit(check_file(sys.argv[2]))
    sys.exit(check_history())

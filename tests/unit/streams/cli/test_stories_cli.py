"""`newswatch stories cluster` / `eval`, and the quality pinned on the dev set."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import orjson
from click.testing import CliRunner

from newswatch.streams.cli import main
from tests.support.environment import DATA

DEVSET = DATA / "stories" / "devset.jsonl"
# Written after the engine was tuned on the dev set, and never tuned on: keep it that way.
HOLDOUT = DEVSET.with_name("holdout.jsonl")


def _run(args: list[str], stdin: bytes = b"") -> tuple[int, str, str]:
    result = CliRunner().invoke(main, args, input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_the_dev_set_is_what_it_claims() -> None:
    rows = [orjson.loads(line) for line in DEVSET.read_bytes().splitlines()]
    sizes = Counter(r["story"] for r in rows)
    assert len(rows) >= 300
    assert sum(1 for n in sizes.values() if n > 1) >= 60
    assert len({r["lang"] for r in rows}) >= 8
    assert len({r["id"] for r in rows}) == len(rows)
    for row in rows:
        assert {"id", "title", "text", "lang", "published", "story"} <= set(row)


def test_eval_meets_the_target_and_beats_the_baseline() -> None:
    code, out, err = _run(["stories", "eval", str(DEVSET), "--json"])
    assert code == 0, err
    report = orjson.loads(out)
    engine, baseline = report["engine"], report["baseline"]
    # Measured 0.904 F1 at 0.937 precision (baseline 0.773 / 0.754); target 0.85 / 0.92.
    assert engine["overall"]["f1"] >= 0.90
    assert engine["overall"]["precision"] >= 0.93
    assert engine["cross_language"]["f1"] >= 0.90
    assert engine["same_language"]["f1"] >= 0.85
    assert engine["overall"]["f1"] > baseline["overall"]["f1"] + 0.1
    assert report["articles"] >= 300 and len(report["languages"]) >= 8


def test_eval_on_the_holdout_set() -> None:
    code, out, err = _run(["stories", "eval", str(HOLDOUT), "--json"])
    assert code == 0, err
    engine = orjson.loads(out)["engine"]["overall"]
    # Measured P 1.000, R 0.772, F1 0.871 (34 articles, 8 stories, 9 languages).
    assert engine["precision"] >= 0.95 and engine["f1"] >= 0.85


def test_eval_prints_both_and_lists_errors() -> None:
    code, out, _ = _run(["stories", "eval", str(DEVSET), "--errors"])
    assert code == 0
    assert "engine    overall" in out and "baseline  overall" in out
    assert "cross-language" in out and "split" in out


def test_cluster_reads_json_lines_and_reports_bad_ones(tmp_path: Path) -> None:
    base = 1_738_000_000
    lines = [
        orjson.dumps(
            {
                "id": "a",
                "title": "Nvidia sheds $589 billion as DeepSeek rattles AI trade",
                "text": "Nvidia shares plunged 17% on Monday, wiping $589 billion off its value.",
                "lang": "en",
                "published": base,
            }
        ),
        b"{not json",
        orjson.dumps({"id": "c", "title": "x", "lang": "en"}),  # no published
        orjson.dumps(
            {
                "id": "d",
                "title": "DeepSeek冲击美股 英伟达市值单日蒸发5890亿美元",
                "text": "英伟达股价周一暴跌17%，市值蒸发约5890亿美元。",
                "lang": "zh",
                "published": base + 3600,
            }
        ),
        orjson.dumps({"id": "e", "title": "Weather", "text": "Mild in Lisbon.", "published": base}),
    ]
    states = tmp_path / "stories.jsonl"
    code, out, err = _run(
        ["stories", "cluster", "-", "--states", str(states)], b"\n".join(lines) + b"\n"
    )
    assert code == 1
    assert "line 2" in err and "line 3" in err and "published" in err
    docs = [orjson.loads(line) for line in out.splitlines()]
    assert [d["id"] for d in docs] == ["a", "d", "e"]
    assert set(docs[0]) == {"id", "story"}
    assert docs[0]["story"] == docs[1]["story"] != docs[2]["story"]
    saved = [orjson.loads(line) for line in states.read_bytes().splitlines()]
    assert {s["id"] for s in saved} == {docs[0]["story"], docs[2]["story"]}
    assert next(s for s in saved if s["size"] == 2)["languages"] == ["en", "zh"]
    # in input order (streaming): "e" came after "d" here, so the same grouping
    code, out_stream, _ = _run(
        ["stories", "cluster", "-", "--order", "input"],
        lines[0] + b"\n" + lines[3] + b"\n" + lines[4] + b"\n",
    )
    assert code == 0 and out_stream == out


def test_cluster_is_the_same_under_another_hash_seed(tmp_path: Path) -> None:
    """No set or dict iteration order may leak into a decision."""
    outputs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "NEWSWATCH_LOG_LEVEL": "WARNING"}
        proc = subprocess.run(
            [sys.executable, "-m", "newswatch.streams.cli", "stories", "cluster", str(DEVSET)],
            capture_output=True,
            env=env,
            check=True,
            timeout=240,
        )
        outputs.append(proc.stdout)
    assert outputs[0] == outputs[1]
    assert len(outputs[0].splitlines()) >= 300

"""`newswatch tag` / `newswatch eval`, and catalogues a user extends or breaks."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from newswatch.agents.tagging import CatalogueError, Tagger
from newswatch.agents.tagging.catalogue import SHIPPED_DIR
from newswatch.streams.cli import main
from tests.support.environment import DATA

DEVSET = DATA / "tagging" / "devset.jsonl"


def _run(args: list[str], stdin: str | bytes = "") -> tuple[int, str, str]:
    result = CliRunner().invoke(main, args, input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_tag_reads_json_lines_and_reports_bad_ones(tmp_path: Path) -> None:
    lines = [
        orjson.dumps({"id": "a", "title": "DeepSeek", "text": "Alibabas Qwen 2.5"}),
        b"{not json",
        orjson.dumps({"id": "c"}),
        orjson.dumps({"id": 4, "text": "深度求索发布开源模型", "lang": "zh-Hans"}),
    ]
    code, out, err = _run(["tag", "--catalogue", str(SHIPPED_DIR)], b"\n".join(lines) + b"\n")
    assert code == 1
    assert "line 2" in err and "line 3" in err
    docs = [orjson.loads(line) for line in out.splitlines()]
    assert [d["id"] for d in docs] == ["a", 4]
    assert docs[0]["entities"] == ["alibaba", "deepseek", "qwen"]
    assert set(docs[0]) == {"id", "entities", "themes", "mentions", "lang"}
    assert docs[1]["lang"] == "zh"
    assert docs[1]["themes"][0]["id"] == "open_source"
    full = "DeepSeek\n\nAlibabas Qwen 2.5"
    for m in docs[0]["mentions"]:
        assert full[m["start"] : m["end"]] == m["text"]


def test_tag_plain_text_files(tmp_path: Path) -> None:
    path = tmp_path / "article.txt"
    path.write_text("Huawei ramps up Ascend 910C chip output.", encoding="utf-8")
    code, out, _ = _run(["tag", "--catalogue", str(SHIPPED_DIR), str(path)])
    assert code == 0
    doc = orjson.loads(out)
    assert doc["id"] == str(path)
    assert doc["entities"] == ["huawei_ascend"]


def test_eval_prints_per_label_and_language() -> None:
    code, out, _ = _run(["eval", "--catalogue", str(SHIPPED_DIR), str(DEVSET)])
    assert code == 0
    assert "ENTITIES (micro)" in out and "per language" in out
    for token in ("deepseek", "export_controls", "\nzh ", "\nvi "):
        assert token in out
    code, out, _ = _run(["eval", "--catalogue", str(SHIPPED_DIR), "--json", str(DEVSET)])
    report = orjson.loads(out)
    assert report["rows"] >= 200 and "de" in report["by_lang"]


def test_eval_rejects_a_bad_gold_row(tmp_path: Path) -> None:
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"id": "x", "text": "t", "lang": "en", "entities": "deepseek"}\n')
    code, _, err = _run(["eval", "--catalogue", str(SHIPPED_DIR), str(gold)])
    assert code != 0 and "line 1" in err


def test_user_extends_the_catalogue_without_code(tmp_path: Path) -> None:
    folder = tmp_path / "catalogue"
    shutil.copytree(SHIPPED_DIR, folder)
    (folder / "extra.yaml").write_text(
        "entities:\n"
        "  - id: xiaomi_mimo\n"
        "    kind: model\n"
        "    group: chinese_ai\n"
        "    aliases: [MiMo-7B, 小米MiMo]\n",
        encoding="utf-8",
    )
    tagger = Tagger.load(folder)
    assert tagger.tag("小米MiMo开源").entities == ["xiaomi_mimo"]
    assert "xiaomi_mimo" in tagger.catalogue.group_members("chinese_ai")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("entities:\n  - id: Bad-Id\n    kind: model\n    aliases: [x]\n", "snake case"),
        ("entities:\n  - id: a\n    kind: robot\n    aliases: [x]\n", "kind"),
        ("entities:\n  - id: a\n    kind: model\n    parent: nope\n    aliases: [x]\n", "parent"),
        ("themes:\n  - id: t\n    terms:\n      1.0: [a]\n      1.0: [b]\n", "duplicate key"),
        ("entities:\n  - id: a\n    kind: model\n    aliases: ['a* b']\n", "only allowed"),
        ("entities: [\n", "expected"),
    ],
)
def test_broken_catalogues_raise_clear_errors(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "bad.yaml").write_text(content, encoding="utf-8")
    with pytest.raises(CatalogueError, match=message):
        Tagger.load(tmp_path)


def test_catalogue_check_lists_languages_lacking_a_name(tmp_path: Path) -> None:
    code, out, _ = _run(["catalogue", "check", "--catalogue", str(SHIPPED_DIR)])
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines() if "missing:" in line}
    assert "missing: -" in lines["deepseek"]  # named in all 30 languages
    assert " ar " in lines["stepfun"] + " " and "missing (entity, language) pairs" in out
    code, out, _ = _run(["catalogue", "check", "--lang", "ar", "--json", "--strict"])
    assert code == 1  # some entity has no Arabic name
    docs = {d["entity"]: d for d in map(orjson.loads, out.splitlines())}
    assert docs["deepseek"]["missing"] == [] and docs["deepseek"]["sources"]["ar"] == "press"
    assert docs["stepfun"]["missing"] == ["ar"]
    # A new model named in one language only: the check lists the other 29.
    folder = tmp_path / "cat"
    shutil.copytree(SHIPPED_DIR, folder)
    (folder / "new.yaml").write_text(
        "entities:\n  - {id: qwen4, kind: model, name: Qwen4, aliases: {zh: [千问4]}}\n",
        encoding="utf-8",
    )
    code, out, _ = _run(["catalogue", "check", "--catalogue", str(folder), "--json"])
    new = next(d for d in map(orjson.loads, out.splitlines()) if d["entity"] == "qwen4")
    assert new["covered"] == ["zh"] and len(new["missing"]) == 29


@pytest.mark.parametrize(
    ("names", "error"),
    [
        ("names:\n  nosuch: {source: press, aliases: {ar: [x]}}\n", "unknown entity"),
        ("names:\n  deepseek: {source: rumour, aliases: {ar: [x]}}\n", "source of 'ar'"),
        ("names:\n  deepseek: {aliases: {ar: [x]}, extra: 1}\n", "expected a mapping"),
    ],
)
def test_names_section_errors_name_the_file(tmp_path: Path, names: str, error: str) -> None:
    folder = tmp_path / "cat"
    shutil.copytree(SHIPPED_DIR, folder)
    (folder / "zz.yaml").write_text(names, encoding="utf-8")
    with pytest.raises(CatalogueError, match=error) as info:
        Tagger.load(folder)
    assert "zz.yaml" in str(info.value)

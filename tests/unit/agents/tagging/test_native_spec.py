"""The boundary to the compiled core (`spec.py`, `native/src/consts.rs`, `_native.pyi`).

Constants come from one place (spec.py) and the Rust side reads the spec objects by
attribute name; these tests fail when the generated file, the Rust structs or the fallback to
the pure-Python engine drift from what spec.py says.
"""

from __future__ import annotations

import dataclasses
import re

import pytest

from newswatch.agents.tagging import Tagger, fastpath, spec
from tests.support.environment import ROOT, unavailable

LIB_RS = ROOT / "agents" / "tagging" / "native" / "src" / "lib.rs"


def test_consts_rs_is_rendered_from_spec() -> None:
    """Regenerate with `python -m newswatch.agents.tagging.spec` after changing spec.py."""
    assert spec.RUST_CONSTS.read_text(encoding="utf-8") == spec.rust_consts()


def test_rust_reads_kinds_and_flags_only_from_consts_rs() -> None:
    """No payload kind, table flag or tail letter is defined a second time in lib.rs."""
    source = LIB_RS.read_text(encoding="utf-8")
    names = [k.name for k in spec.Kind] + ["MAPPABLE", "WORD", "DIGIT", "MAPPED_MASK", "REPEAT"]
    for name in names:
        assert not re.search(rf"\bconst {name}\b", source), name


def _rust_fields(struct: str) -> list[str]:
    body = re.search(rf"struct {struct} \{{(.*?)\n\}}", LIB_RS.read_text(encoding="utf-8"), re.S)
    assert body, struct
    return re.findall(r"^\s+(\w+):", body.group(1), re.M)


@pytest.mark.parametrize(
    ("rust", "python"),
    [
        ("EngineSpec", spec.EngineSpec),
        ("LangSpec", spec.LangSpec),
        ("PlanSpec", spec.PlanSpec),
        ("ThemeSpec", spec.ThemeSpec),
        ("Payload", spec.PayloadSpec),
        ("Inner", spec.InnerSpec),
    ],
)
def test_rust_structs_read_the_spec_fields(rust: str, python: type) -> None:
    """The `#[derive(FromPyObject)]` structs read exactly the dataclasses' attributes."""
    assert sorted(_rust_fields(rust)) == sorted(f.name for f in dataclasses.fields(python))


def test_plans_are_shortcuts_the_payloads_allow() -> None:
    alias = spec.Payload(spec.Kind.ALIAS, "deepseek", "deepseek", left=True, right=True)
    term = spec.Payload(spec.Kind.TERM, "chips", "chip", left=True, right=True)
    near = spec.Payload(spec.Kind.NEAR, "chips", "chip", left=False, right=True, rule=0)
    assert fastpath._plan([alias], 3) == spec.PlanSpec(True, spec.RightRule.ALIAS_TAIL, 3, 4, -1)
    assert fastpath._plan([term], 0) == spec.PlanSpec(True, spec.RightRule.RULED_OUT, 0, 1, 0)
    assert fastpath._plan([alias, near], 5) == spec.PlanSpec(
        False, spec.RightRule.PER_PAYLOAD, 5, 7, -1
    )


def test_without_the_compiled_core_the_reference_engine_tags(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No `_native` (no cargo at install time): `Tagger` runs the pure-Python engine, and
    insisting on the compiled one is an ImportError."""
    monkeypatch.setattr(fastpath, "load_native", lambda: None)
    tagger = Tagger.load()
    assert tagger.engine == "python"
    result = tagger.tag("DeepSeek R1 and Alibaba's Qwen3 under US export controls on AI chips")
    assert result.entities == ["alibaba", "deepseek", "qwen"]
    assert result.theme_ids == ["chips", "export_controls"]
    with pytest.raises(ImportError):
        Tagger.load(native=True)


@pytest.fixture(scope="module")
def native() -> Tagger:
    if fastpath.load_native() is None:
        unavailable("the compiled tagging core is not built (needs cargo at install time)")
    return Tagger.load(native=True)


def _spec(tagger: Tagger) -> spec.EngineSpec:
    built, _ = fastpath.engine_spec(
        tagger._patterns,
        tagger._payloads,
        tagger._inner,
        tagger._phrases,
        tagger.catalogue,
        (10, 10, 1000),
        frozenset(),
    )
    return built


def test_an_inconsistent_spec_is_refused(native: Tagger) -> None:
    module = fastpath.load_native()
    assert module is not None
    good = _spec(native)
    bad_owner = dataclasses.replace(good.payloads[0], owner=len(good.owners))
    with pytest.raises(ValueError, match="inconsistent engine tables"):
        module.Engine(dataclasses.replace(good, payloads=[bad_owner, *good.payloads[1:]]))
    with pytest.raises(ValueError, match="inconsistent engine tables"):
        module.Engine(dataclasses.replace(good, plans=good.plans[1:]))
    with pytest.raises(TypeError, match="patterns"):  # a field of the wrong type names itself
        module.Engine(dataclasses.replace(good, patterns=[1, 2]))  # type: ignore[list-item]


def test_scan_results_are_typed_objects(native: Tagger) -> None:
    engine = native._engine
    assert engine is not None
    nothing = engine.scan("a quiet day at the lake")
    assert nothing is not None and nothing.events == () and nothing.themes == frozenset()
    found = engine.scan("Kimi Räikkönen, DeepSeek and chip export controls")
    assert found is not None and found.text == "kimi räikkönen, deepseek and chip export controls"
    kinds = {native._flat_payloads[p].kind for p, _, _, _ in found.events}
    assert {spec.Kind.ALIAS, spec.Kind.STOP} <= kinds
    assert all(isinstance(right_ok, bool) for _, _, _, right_ok in found.events)
    assert "export_controls" in found.themes
    assert engine.scan("ﬁnance ½") is None  # characters that need Python's normalize()
    normalised = engine.scan_normalised("deepseek: 1⁄2 of it")
    assert normalised.text == "deepseek: 1⁄2 of it" and len(normalised.events) == 1
    assert engine.scan_normalised("1⁄2 of it").events == ()  # nothing found

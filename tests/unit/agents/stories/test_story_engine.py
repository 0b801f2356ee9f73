"""The story engine: near-duplicates, cross-language joins, separate events, closing,
determinism, snapshot/restore and bounded state."""

from __future__ import annotations

import math
import random

import orjson
import pytest

from newswatch.agents.stories import StoryArticle, StoryConfig, StoryEngine, story_id_for
from newswatch.agents.stories.evaluate import Tagged, check_row, to_story_article
from newswatch.agents.tagging import Tagger
from tests.support.environment import DATA

DEVSET = DATA / "stories" / "devset.jsonl"
HOUR = 3600.0
DAY = 24 * HOUR
T0 = 1_738_000_000.0  # 2025-01-27


def art(aid: str, title: str, text: str, lang: str, hours: float, **kw: object) -> StoryArticle:
    kw.setdefault("feed", f"feed-{aid}")
    return StoryArticle(
        id=aid, title=title, text=text, lang=lang, published=T0 + hours * HOUR, **kw
    )


NVIDIA_EN = art(
    "nv-en",
    "Nvidia sheds $589 billion in market value as DeepSeek rattles AI trade",
    "Nvidia shares plunged 17% on Monday, wiping about $589 billion off its market value, the "
    "biggest one-day loss in U.S. history, after DeepSeek's low-cost R1 model raised doubts "
    "about spending on AI chips. The Nasdaq fell 3.1%.",
    "en",
    0,
    entities=("deepseek",),
    themes=("market_impact",),
)
NVIDIA_COPY = art(
    "nv-en-copy",
    "Nvidia sheds $589 billion in market value as DeepSeek rattles AI trade",
    "Nvidia shares plunged 17% on Monday, wiping about $589 billion off its market value, the "
    "biggest one-day loss for any company in U.S. history, after DeepSeek's cheap R1 model "
    "raised doubts about heavy spending on AI chips. The Nasdaq Composite fell 3.1%.",
    "en",
    2,
    entities=("deepseek",),
    themes=("market_impact",),
)
NVIDIA_ZH = art(
    "nv-zh",
    "DeepSeek冲击美股 英伟达市值单日蒸发5890亿美元",
    "受深度求索低成本R1模型冲击，英伟达股价周一暴跌17%，市值蒸发约5890亿美元。纳斯达克指数下跌3.1%。",
    "zh",
    5,
    entities=("deepseek",),
    themes=("market_impact",),
)
NVIDIA_DE = art(
    "nv-de",
    "DeepSeek-Schock: Nvidia verliert 589 Milliarden Dollar an Börsenwert",
    "Die Nvidia-Aktie ist am Montag um 17 Prozent eingebrochen. Rund 589 Milliarden Dollar "
    "Börsenwert lösten sich auf. Auslöser war das KI-Modell R1 von DeepSeek.",
    "de",
    6,
    entities=("deepseek",),
    themes=("market_impact",),
)
SIGNUPS_EN = art(
    "signup-en",
    "DeepSeek limits sign-ups after 'large-scale malicious attacks'",
    "Chinese AI startup DeepSeek said it would temporarily limit registrations after it was "
    "hit by large-scale malicious attacks. New users can still register with a +86 number.",
    "en",
    4,
    entities=("deepseek",),
    themes=("market_impact",),
)
PROBE_FEB = art(
    "probe-en",
    "US probes whether DeepSeek got Nvidia chips through Singapore",
    "The Commerce Department is examining whether DeepSeek used intermediaries in Singapore to "
    "obtain Nvidia chips barred from export to China, Bloomberg reported. Singapore accounted "
    "for 22% of Nvidia's revenue.",
    "en",
    24 * 5,
    entities=("deepseek",),
    themes=("export_controls", "chips"),
)
SANCTIONS_APR = art(
    "sanctions-en",
    "US weighs penalties to bar DeepSeek from buying US technology",
    "The Commerce Department is weighing penalties that would block DeepSeek from buying "
    "Nvidia chips and other American technology, the New York Times reported.",
    "en",
    24 * 80,
    entities=("deepseek",),
    themes=("export_controls", "chips"),
)


def test_a_syndicated_copy_joins_as_near_duplicate() -> None:
    engine = StoryEngine()
    first = engine.add(NVIDIA_EN)
    copy = engine.add(NVIDIA_COPY)
    assert first.how == "new" and first.story_id == story_id_for("nv-en")
    assert copy.how == "near_duplicate" and copy.story_id == first.story_id
    assert 0.5 <= copy.score < 1.0
    assert copy.story["size"] == 2 and copy.story["sources"] == 2


def test_translations_join_the_same_story_across_languages() -> None:
    engine = StoryEngine()
    results = [engine.add(a) for a in (NVIDIA_EN, NVIDIA_ZH, NVIDIA_DE)]
    assert {r.story_id for r in results} == {results[0].story_id}
    assert [r.how for r in results] == ["new", "similar", "similar"]
    story = results[-1].story
    assert story["languages"] == ["de", "en", "zh"]
    assert story["headline"] == NVIDIA_EN.title  # English preferred for the headline
    assert [a["id"] for a in story["articles"]] == ["nv-en", "nv-zh", "nv-de"]
    assert story["first_seen"] == NVIDIA_EN.published
    assert story["last_seen"] == NVIDIA_DE.published
    assert story["entities"] == ["deepseek"] and story["themes"] == ["market_impact"]
    # articles per hour over the 6 hours before the last one (hour 0 is just outside)
    assert story["growth_rate"] == pytest.approx(2 / 6, abs=1e-3)


def test_different_events_about_the_same_entities_stay_apart() -> None:
    engine = StoryEngine()
    market = engine.add(NVIDIA_EN)
    # Same day, same entity and theme, another event: no specific anchor in common.
    signups = engine.add(SIGNUPS_EN)
    assert signups.how == "new" and signups.story_id != market.story_id
    # Chip probe in February and sanctions talk in April share Nvidia, the Commerce
    # Department, DeepSeek and the export-control themes: two stories.
    probe = engine.add(PROBE_FEB)
    sanctions = engine.add(SANCTIONS_APR)
    assert probe.story_id not in (market.story_id, signups.story_id)
    assert sanctions.how == "new" and sanctions.story_id != probe.story_id
    assert "g:nvidia" in engine.features(SANCTIONS_APR).anchors
    assert "g:us_commerce" in engine.features(PROBE_FEB).anchors


def test_a_story_closes_after_the_quiet_window() -> None:
    config = StoryConfig(quiet_window=12 * HOUR)
    engine = StoryEngine(config)
    first = engine.add(NVIDIA_EN)
    joined = engine.add(NVIDIA_COPY)
    assert joined.closed == ()
    later = art("other", "Unrelated", "Weather in Lisbon stays mild all week long.", "en", 15)
    result = engine.add(later)
    assert [s["id"] for s in result.closed] == [first.story_id]
    closed = result.closed[0]
    assert closed["status"] == "closed" and closed["size"] == 2
    assert engine.story(first.story_id) is None
    # A copy arriving after the close starts a story of its own.
    late_copy = engine.add(
        StoryArticle(**{**_fields(NVIDIA_COPY), "id": "late", "published": T0 + 20 * HOUR})
    )
    assert late_copy.how == "new" and late_copy.story_id != first.story_id
    # tick() closes idle stories without an article
    closed_by_tick = engine.tick(T0 + 40 * HOUR)
    assert {s["id"] for s in closed_by_tick} == {result.story_id, late_copy.story_id}
    assert engine.stats()["open_stories"] == 0 and engine.closed_total == 3


def test_a_lone_article_closes_sooner_than_a_story_of_several() -> None:
    engine = StoryEngine(StoryConfig(quiet_window=36 * HOUR, quiet_window_single=12 * HOUR))
    pair = engine.add(NVIDIA_EN)
    engine.add(NVIDIA_COPY)
    lone = engine.add(SIGNUPS_EN)
    assert lone.story_id != pair.story_id
    closed = engine.tick(SIGNUPS_EN.published + 13 * HOUR)
    assert [s["id"] for s in closed] == [lone.story_id]
    assert engine.story(pair.story_id) is not None
    closed = engine.tick(NVIDIA_COPY.published + 37 * HOUR)
    assert [s["id"] for s in closed] == [pair.story_id]


def _fields(article: StoryArticle) -> dict[str, object]:
    return {name: getattr(article, name) for name in StoryArticle.__slots__}


def test_a_redelivered_article_changes_nothing() -> None:
    engine = StoryEngine()
    first = engine.add(NVIDIA_EN)
    again = engine.add(NVIDIA_EN)
    assert again.how == "duplicate" and again.story_id == first.story_id
    assert again.story["size"] == 1


def test_bad_input_is_refused() -> None:
    engine = StoryEngine()
    with pytest.raises(ValueError, match="finite"):
        engine.add(StoryArticle(id="x", title="t", published=math.nan))
    with pytest.raises(ValueError, match="bad story snapshot"):
        StoryEngine.restore(b"{not json")
    with pytest.raises(ValueError, match="version"):
        StoryEngine.restore(b'{"version": 99}')
    with pytest.raises(ValueError, match="normalise"):
        StoryConfig(normalise="cosine")
    with pytest.raises(ValueError, match="quiet_window_single"):
        StoryConfig(quiet_window=3600, quiet_window_single=7200)
    snapshot = StoryEngine(StoryConfig(num_perm=128)).snapshot()
    with pytest.raises(ValueError, match="MinHash settings"):
        StoryEngine.restore(snapshot)


@pytest.fixture(scope="module")
def devset() -> list[StoryArticle]:
    tagger = Tagger.load()
    rows = [check_row(orjson.loads(line)) for line in DEVSET.read_bytes().splitlines()]
    articles = []
    for row in sorted(rows, key=lambda r: (r.published, r.id)):
        result = tagger.tag(row.text, title=row.title, lang=row.lang)
        tags = Tagged(tuple(result.entities), tuple(result.theme_ids))
        articles.append(to_story_article(row, tags))
    return articles


def _run(engine: StoryEngine, articles: list[StoryArticle]) -> list[tuple[str, str, float]]:
    return [(r.story_id, r.how, r.score) for r in map(engine.add, articles)]


def test_replay_gives_the_same_stories(devset: list[StoryArticle]) -> None:
    first = _run(StoryEngine(), devset)
    second = _run(StoryEngine(), devset)
    assert first == second
    assert len({story for story, _, _ in first}) < len(devset) / 3


def test_snapshot_and_restore_continue_exactly(devset: list[StoryArticle]) -> None:
    straight = StoryEngine()
    expected = _run(straight, devset)
    for cut in (1, len(devset) // 3, len(devset) // 2):
        engine = StoryEngine()
        head = _run(engine, devset[:cut])
        restored = StoryEngine.restore(engine.snapshot())
        assert restored.stats() == engine.stats()
        assert restored.snapshot() == engine.snapshot()
        tail = _run(restored, devset[cut:])
        assert head + tail == expected
        assert restored.open_stories() == straight.open_stories()


def test_state_is_bounded_by_count() -> None:
    config = StoryConfig(
        max_open_stories=40,
        max_articles_kept=4,
        max_anchors=12,
        max_indexed=2,
        max_members=6,
        quiet_window=1e9,  # nothing closes by time: only the bounds hold memory down
    )
    engine = StoryEngine(config)
    rng = random.Random(7)
    words = [f"word{i}" for i in range(400)]
    for i in range(600):
        text = " ".join(rng.choice(words) for _ in range(40))
        numbers_ = " ".join(f"{rng.randint(10, 10_000)} million" for _ in range(20))
        engine.add(art(f"r{i}", f"Title {i}", f"{text} {numbers_}", "en", i * 0.01))
    # One huge story: 300 copies of one text.
    for i in range(300):
        engine.add(StoryArticle(**{**_fields(NVIDIA_COPY), "id": f"copy{i}", "feed": f"f{i}"}))
    stats = engine.stats()
    assert stats["open_stories"] <= 40
    assert stats["articles_kept"] <= 40 * 4
    assert stats["anchors"] <= 40 * 12
    assert stats["postings"] == stats["anchors"]
    assert stats["indexed"] <= 40 * 2
    assert stats["members"] <= 40 * 6
    assert engine.closed_total >= 600 - 40
    big = max(engine.open_stories(), key=lambda s: s["size"])
    assert big["size"] == 300 and len(big["articles"]) == 4 and big["sources"] == 300
    # the first half of the kept summaries stays, the rest rotates to the latest
    assert [a["id"] for a in big["articles"]] == ["copy0", "copy1", "copy298", "copy299"]


def test_the_band_index_finds_what_datasketch_lsh_finds() -> None:
    """The engine's LSH index (`_BandIndex`) against datasketch's MinHashLSH with the same
    settings: the same candidate keys for every query, through inserts and removals."""
    import numpy as np
    from datasketch import LeanMinHash, MinHashLSH

    from newswatch.agents.stories.engine import _BandIndex

    config = StoryConfig()
    rng = np.random.default_rng(5)
    # Few distinct values per position, so bands collide often (as near-duplicates do).
    pool = rng.integers(0, 2**32, size=(3, config.num_perm), dtype=np.uint64)
    signatures = [
        pool[rng.integers(0, 3, size=config.num_perm), np.arange(config.num_perm)]
        for _ in range(300)
    ]
    reference = MinHashLSH(threshold=config.near_duplicate, num_perm=config.num_perm)
    index = _BandIndex(config)

    def lean(sig: np.ndarray) -> LeanMinHash:
        return LeanMinHash(seed=config.seed, hashvalues=sig, scheme="affine32")

    found = 0
    for n, sig in enumerate(signatures):
        expected = set(reference.query(lean(sig)))
        assert set(index.query(index.bands(sig))) == expected
        found += len(expected)
        reference.insert(f"k{n}", lean(sig))
        index.insert(f"k{n}", index.bands(sig))
        if n % 3 == 0 and n:
            reference.remove(f"k{n - 1}")
            index.remove(f"k{n - 1}")
    assert found > 300  # the test exercised shared bands
    with pytest.raises(ValueError, match="exists"):
        index.insert("k0", index.bands(signatures[0]))
    with pytest.raises(ValueError, match="does not exist"):
        index.remove("k2")


def test_a_signature_that_is_not_32_bit_hashes_is_refused() -> None:
    import numpy as np

    from newswatch.agents.stories.engine import Prepared

    engine = StoryEngine()
    prepared = engine.maker.prepare(NVIDIA_EN)
    assert prepared.signature is not None
    bad = prepared.signature.astype(np.uint64)
    bad[3] = 2**40
    with pytest.raises(ValueError, match="out of range"):
        engine.add(NVIDIA_COPY, Prepared(prepared.features, bad))
    with pytest.raises(ValueError, match="length"):
        engine.add(NVIDIA_COPY, Prepared(prepared.features, bad[:10]))
    engine.add(NVIDIA_EN, prepared)  # refused articles left no trace in the index
    assert engine.add(NVIDIA_COPY).how == "near_duplicate"

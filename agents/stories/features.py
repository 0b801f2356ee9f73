"""What the story engine reads from one article: shingles for near-duplicates and anchors.

Shingles (near-duplicates): word 2-grams for scripts that separate words with spaces;
character 3-grams for Chinese, Japanese, Korean and Thai, where words are not separated (a
word 2-gram of a Chinese sentence would be the whole sentence).

Anchors (same story across wording and language): the features that survive translation.
Each is a typed key:

- ``e:`` the tagger's entities (``e:deepseek``), ``t:`` its themes (``t:export_controls``);
- ``g:`` actors and places of the gazetteer (``g:nvidia`` from "英伟达" or "Nvidia"),
  ``s:`` named sources (``s:reuters`` from "路透社" or "Reuters");
- ``m:`` model and product codes: "H20", "R1", "910C", "Qwen 2.5-Max" -> ``m:h20``,
  ``m:r1``, ``m:910c``, ``m:qwen2.5``;
- ``n:`` amounts with their magnitude ("$600 billion", "6000亿", "600 Milliarden" ->
  ``n:6e11``), ``p:`` percentages ("50 %", "50％", "50 процентов" -> ``p:50``);
- ``l:`` Latin-script names: runs of Latin letters inside CJK, Cyrillic, Thai or Hangul text
  ("据Bloomberg报道" -> ``l:bloomberg``) and capitalised words inside Latin-script text
  (not at a sentence start), so "Lutnick" in Chinese, Russian and English text meet.

Everything here is deterministic and pure, and written for speed: it runs for every tagged
article. features_reference.py holds the plain implementation of the same functions, which
this module must match exactly (tests/unit/agents/stories/test_story_features_reference.py);
`numbers`, `model_codes` and `latin_names` run in the tagging core's Rust when it is built
(`find_anchors`, agents/tagging/native/src/anchors.rs; the same sets, tests/unit/agents/
stories/test_native_anchors.py), and the functions here are its reference and fallback. The
speed comes from regexes that start with a character class (the regex engine then skips to
candidate characters instead of trying a look-behind at every position: the look-behinds sit
after the first character), per distinct word instead of per occurrence work, and one
normalisation per article shared by the gazetteer, shingles and anchors.
"""

from __future__ import annotations

import itertools
import logging
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from newswatch.agents.stories.gazetteer import Gazetteer
    from newswatch.agents.tagging._native import Anchors

log = logging.getLogger(__name__)

# ---- scripts -------------------------------------------------------------------------------

_UNSPACED = re.compile(
    "[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\u1100-\u11ff\u0e00-\u0e7f\uf900-\ufaff]"
)  # kana, CJK ideographs, Hangul, Thai: scripts written without spaces between words
_CYRILLIC = re.compile("[\u0400-\u04ff]")


def script_of(text: str) -> str:
    """ "unspaced" (CJK, Thai, Hangul), "cyrillic" or "latin": the majority of letters
    (of the first 1,000 characters: enough to tell, and the cost stays flat)."""
    text = text[:1_000]
    if text.isascii():
        return "latin"
    unspaced = len(_UNSPACED.findall(text))
    cyrillic = len(_CYRILLIC.findall(text))
    other = len(text) - unspaced - cyrillic  # Latin letters, and spaces, digits, punctuation
    # A CJK character carries about as much as a 3-letter Latin word: weigh it so a Chinese
    # text full of Latin names still counts as Chinese.
    if unspaced and unspaced * 3 >= max(other, cyrillic):
        return "unspaced"
    return "cyrillic" if cyrillic > other else "latin"


# ---- shingles ------------------------------------------------------------------------------

_WORD = re.compile(r"\w+")
# Everything but letters, digits, Thai (whose vowels and tone marks are combining marks) and
# combining marks: what character n-grams leave out.
_NOT_CHAR = re.compile(r"[^\w\u0e00-\u0e7f\u0300-\u036f\u3099\u309a]|_")
CHAR_NGRAM = 3


def shingles(title: str, text: str, script: str | None = None) -> set[bytes]:
    """Word 2-grams, or character 3-grams for unspaced scripts, of title and text."""
    full = unicodedata.normalize("NFKC", f"{title}\n{text}").lower()
    return set(_shingles(full, script or script_of(full)))


def _shingles(lowered: str, script: str) -> frozenset[bytes]:
    """`shingles` of the NFKC-normalised, lower-cased "title\ntext"."""
    if script == "unspaced":
        # Letters, digits and marks: Thai vowels and tone marks are combining marks.
        chars = _NOT_CHAR.sub("", lowered)
        if len(chars) < CHAR_NGRAM:
            return frozenset((chars.encode(),) if chars else ())
        grams = map("".join, zip(chars, chars[1:], chars[2:], strict=False))
        return frozenset(map(str.encode, grams))
    words = _utf8_words(lowered)
    if len(words) < 2:
        return frozenset(words)
    return frozenset(map(b" ".join, itertools.pairwise(words)))


# ASCII bytes that are not word characters (what \w leaves out of an ASCII text) -> space;
# letters, digits, "_" and every byte of a multi-byte UTF-8 sequence (all >= 0x80) kept.
_ASCII_NON_WORD_TO_SPACE = bytes(
    b if b >= 0x80 or chr(b).isalnum() or b == 0x5F else 0x20 for b in range(256)
)


# The non-ASCII characters of most Latin-script text, none a word character: replaced by a
# space in the UTF-8 bytes (a character's encoding never occurs inside another's), most texts
# are then ASCII and skip the per-piece check.
_UTF8_SEPARATORS = tuple(c.encode() for c in "\u2019\u2018\u201c\u201d\u2014\u2013")  # ’‘“”—–


def _utf8_words(text: str) -> list[bytes]:
    """The UTF-8 bytes of `_WORD.findall(text)`'s words, in order, made faster: no run of
    word characters crosses an ASCII non-word character, so the text is first cut there in
    bytes (a translate and a split, no per-character Python), and only the pieces holding
    non-ASCII characters go through the regex. "surrogatepass": a lone surrogate (not a
    word character) neither breaks the encoding nor joins a word."""
    data = text.encode("utf-8", "surrogatepass")
    if not text.isascii():
        for separator in _UTF8_SEPARATORS:
            data = data.replace(separator, b" ")
    pieces = data.translate(_ASCII_NON_WORD_TO_SPACE).split()
    if data.isascii():
        return pieces
    words: list[bytes] = []
    for piece in pieces:
        if piece.isascii():
            words.append(piece)
        else:
            words.extend(w.encode() for w in _WORD.findall(piece.decode("utf-8", "surrogatepass")))
    return words


# ---- numbers -------------------------------------------------------------------------------

# Multipliers written after a number, in the languages the tagger covers. Lower case.
_MULTIPLIERS: dict[str, float] = {
    "thousand": 1e3,
    "million": 1e6,
    "millions": 1e6,
    "mn": 1e6,
    "mln": 1e6,
    "billion": 1e9,
    "billions": 1e9,
    "bn": 1e9,
    "trillion": 1e12,
    "tn": 1e12,
    "mio": 1e6,
    "millionen": 1e6,
    "mrd": 1e9,
    "milliarde": 1e9,
    "milliarden": 1e9,
    "billionen": 1e12,
    "milliard": 1e9,
    "milliards": 1e9,
    "millón": 1e6,
    "millones": 1e6,
    "mil millones": 1e9,
    "billón": 1e12,
    "billones": 1e12,
    "milhão": 1e6,
    "milhões": 1e6,
    "bilhão": 1e9,
    "bilhões": 1e9,
    "trilhão": 1e12,
    "trilhões": 1e12,
    "milione": 1e6,
    "milioni": 1e6,
    "miliardo": 1e9,
    "miliardi": 1e9,
    "nghìn": 1e3,
    "ngàn": 1e3,
    "triệu": 1e6,
    "tỷ": 1e9,
    "tỉ": 1e9,
    "nghìn tỷ": 1e12,
    "juta": 1e6,
    "miliar": 1e9,
    "triliun": 1e12,
    "тыс": 1e3,
    "тысяч": 1e3,
    "млн": 1e6,
    "миллион": 1e6,
    "миллиона": 1e6,
    "миллионов": 1e6,
    "млрд": 1e9,
    "миллиард": 1e9,
    "миллиарда": 1e9,
    "миллиардов": 1e9,
    "трлн": 1e12,
    "триллион": 1e12,
    "триллиона": 1e12,
    "триллионов": 1e12,
    "千": 1e3,
    "万": 1e4,
    "萬": 1e4,
    "亿": 1e8,
    "億": 1e8,
    "兆": 1e12,
    "천": 1e3,
    "만": 1e4,
    "억": 1e8,
    "조": 1e12,
}
_PERCENT_WORDS = (
    "%",
    "％",
    "percent",
    "per cent",
    "prozent",
    "pour cent",
    "por ciento",
    "por cento",
    "per cento",
    "phần trăm",
    "persen",
    "процент",
    "процента",
    "процентов",
    "パーセント",
    "퍼센트",
)
_UNITS = sorted((*_MULTIPLIERS, *_PERCENT_WORDS), key=len, reverse=True)
_WORD_UNITS = "|".join(re.escape(u) for u in _UNITS if u[0].isalpha() and u[0] < "\u2e80")
_SIGN_UNITS = "|".join(re.escape(u) for u in _UNITS if not (u[0].isalpha() and u[0] < "\u2e80"))
# The reference's "(?<![0-9A-Za-z.,])(?P<num>\d{1,3}(?:…)+(?!\d)|\d+(?:[.,]\d+)?)", with the
# look-behind moved after the first digit (same matches; the engine scans for digits).
_NUMBER = re.compile(
    r"(?P<num>\d(?<![0-9A-Za-z.,]\d)(?:\d{0,2}(?:[.,\u00a0\u202f ]\d{3})+(?![\d])|\d*(?:[.,]\d+)?))"
    r"(?:\s?(?P<unit>" + _WORD_UNITS + r")(?![a-zа-яà-ỹ])|\s?(?P<sign>" + _SIGN_UNITS + r"))?",
    re.IGNORECASE,
)
_THOUSANDS = re.compile(r"[.,\u00a0\u202f ](?=\d{3}(?!\d))")


def _parse_number(raw: str) -> float | None:
    """'600' '1,5' '1.5' '600,000' '6.000' '1 000' -> float; None if unreadable."""
    groups = _THOUSANDS.split(raw)
    if len(groups) > 1 and all(len(g) == 3 for g in groups[1:]):
        raw = "".join(groups)
    raw = raw.replace(",", ".")
    if raw.count(".") > 1:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    # Hostile or meaningless: "99999…" of 400 digits is not an amount (and float("9"*400)
    # is inf). Nothing reported in the news is above 1e18 before its multiplier.
    return value if math.isfinite(value) and value < 1e18 else None


def _magnitude_key(value: float) -> str:
    """Three significant digits: 6e11, 1.5e10; the same amount gives the same key."""
    if value == 0:
        return "0"
    exponent = math.floor(math.log10(abs(value)))
    mantissa = round(value / 10**exponent, 2)
    if mantissa >= 10:
        mantissa, exponent = mantissa / 10, exponent + 1
    return f"{mantissa:g}e{exponent}"


def _is_date(text: str, start: int, end: int, value: float) -> bool:
    """A day of the month ("17日", "June 17", "17. Juni"): the same for every story of
    that day, and English writes "on Monday" instead; not an anchor."""
    if not (value.is_integer() and 1 <= value <= 31):
        return False
    if _DAY_AFTER.match(text, end):
        return True
    return bool(_MONTHS.search(text[max(0, start - 12) : end + 12]))


def numbers(text: str) -> set[str]:
    """Amounts (``n:``) and percentages (``p:``) in text, language-neutral."""
    found: set[str] = set()
    for match in _NUMBER.finditer(text):
        value = _parse_number(match["num"])
        if value is None or _is_date(text, match.start(), match.end(), value):
            continue
        unit = (match["unit"] or match["sign"] or "").lower()
        if unit in _PERCENT_WORDS or unit.startswith("процент"):
            found.add(f"p:{value:g}")
        elif unit:
            found.add(f"n:{_magnitude_key(value * _MULTIPLIERS[unit])}")
        elif not value.is_integer() or (value >= 10 and not 1900 <= value <= 2100):
            # Bare numbers: no years (every story of a year has them), no small counts
            # (written as words in some languages); decimals ("4.5", "2,5") stay.
            found.add(f"n:{_magnitude_key(value)}")
    return found


# ---- model and product codes, Latin names --------------------------------------------------

_NOT_LATIN_ALNUM = r"(?<![A-Za-z0-9])"
_VERSION = re.compile(
    r"(?P<ver>\d(?<![0-9.,]\d)\d*(?:\.\d+)?)(?P<tail>[A-Za-z]{0,2})"
    r"(?![A-Za-z0-9]|[日月年号號時时点點])"
)
_WORD_BEFORE = re.compile(r"(?<![A-Za-z0-9])(?P<word>[A-Za-z]{1,13})(?P<sep>[ \-]?)$")
# Look-behinds after the first letter, as in _NUMBER.
_LATIN_WORD = re.compile(r"[A-Za-zÀ-ɏ](?<![A-Za-zÀ-ɏ0-9].)[A-Za-zÀ-ɏ]*(?![A-Za-zÀ-ɏ0-9])")
# The same, starting with a capital (Latin-1 and Latin Extended-A capitals; the rest is
# checked with str.isupper): Latin text has many words and few names.
_CAPITAL = r"[A-ZÀ-ÖØ-ÞĀ-Ž](?<![A-Za-zÀ-ɏ0-9].)"
_CAPITAL_WORD = re.compile(_CAPITAL + r"[A-Za-zÀ-ɏ]*(?![A-Za-zÀ-ɏ0-9])")
# A sentence start: the text's start, or up to two spaces after a sentence end (the
# reference reads the 3 characters before the word with "[.!?。！？:;«»\"“”„\n]\s*$").
_END = '[.!?。！？:;«»"“”„\n]'
_SENTENCE_START = rf"(?:(?<=^.)|(?<={_END}.)|(?<={_END}\s.)|(?<={_END}\s\s.))"
_INITIAL_CAPITAL_WORD = re.compile(_CAPITAL + _SENTENCE_START + r"[A-Za-zÀ-ɏ]*(?![A-Za-zÀ-ɏ0-9])")

# Capitalised words that begin clauses or name dates, not actors (all Latin languages).
_CAPITAL_STOP_WORDS = """
    the a an and but in on at for of to by with from as after before while this that these
    those it its he she they we his her their our us chinese american us-based monday tuesday
    wednesday thursday friday saturday sunday january february march april may june july august
    september october november december der die das ein eine und im am auf für mit von zu nach
    bei montag dienstag mittwoch donnerstag freitag samstag sonntag januar februar märz juni
    juli oktober dezember le la les un une des du et en au aux pour avec sur dans selon lundi
    mardi mercredi jeudi vendredi samedi dimanche janvier février mars avril mai juin juillet
    août septembre octobre novembre décembre el los las una del con por para según lunes martes
    miércoles jueves viernes sábado domingo enero febrero marzo mayo junio julio agosto
    septiembre octubre noviembre diciembre o os um uma do da dos das em no na nos nas com
    segundo segunda terça quarta quinta sexta sábado janeiro fevereiro março maio junho julho
    setembro outubro novembro dezembro il lo gli di che nel della secondo theo các những một
    của và trong khi ngày tháng năm ông bà công ty tập đoàn ai ki ia ии ceo app api usd gpu cpu
    pc ok
"""
_CAPITAL_STOP = frozenset(_CAPITAL_STOP_WORDS.split())
_MONTH_WORDS = (
    "jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|januar|februar|märz|mai|juni|"
    "juli|oktober|dezember|janvier|février|mars|avril|juin|juillet|août|septembre|octobre|"
    "novembre|décembre|enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|octubre|"
    "noviembre|diciembre|janeiro|fevereiro|março|maio|junho|julho|setembro|outubro|novembro|"
    "dezembro|января|февраля|марта|апреля|мая|июня|июля|августа|сентября|октября|ноября|"
    "декабря|tháng"
)
# The reference's "(?i)\b(?:MONTH_WORDS)\w*" (used only to tell whether it matches), with the
# words grouped by first letter behind a look-ahead for those letters: the same matches, but
# the regex engine, which tries each alternative separately under IGNORECASE, tries the
# words only where a word starts with one of the letters, and only those of that letter.
_MONTH_GROUPS: dict[str, list[str]] = {}
for _word in _MONTH_WORDS.split("|"):
    _MONTH_GROUPS.setdefault(_word[0], []).append(_word[1:])
_MONTH_FIRSTS = "".join(sorted(_MONTH_GROUPS))
_MONTHS = re.compile(
    rf"(?i)\b(?=[{_MONTH_FIRSTS}])(?:"
    + "|".join(f"{first}(?:{'|'.join(rest)})" for first, rest in sorted(_MONTH_GROUPS.items()))
    + r")\w*"
)
del _word
_DAY_AFTER = re.compile(r"\s?(?:日|号|號|일)")


def model_codes(text: str) -> set[str]:
    """Model and product codes: letter+digit tokens ("H20", "R1", "910C", "GPT-4o") and
    name+version ("Qwen 2.5-Max", "GLM-4.5" -> ``m:qwen2.5``, ``m:glm4.5``).

    Found from the digits backwards (a text has far fewer digit runs than letters)."""
    found: set[str] = set()
    for match in _VERSION.finditer(text):
        ver, tail = match["ver"], match["tail"] or ""
        if tail.lower() == "s":
            tail = ""  # "H20s" is "H20"
        before = _WORD_BEFORE.search(text, max(0, match.start() - 14), match.start())
        word = before["word"] if before else None
        sep = before["sep"] if before else ""
        if word is None or sep:
            # A code of its own ("910C", "5G"), also when a name is written before it
            # ("Ascend 910C"), so "昇腾910C" meets it.
            named = word is not None and word[0].isupper()
            if tail or (named and len(ver.replace(".", "")) >= 3):
                found.add(f"m:{ver}{tail}".lower())
            if word is None:
                continue
        if len(word) > 12 or word.lower() in _CAPITAL_STOP:
            continue  # "in 2025", "June 30": a word, then a number, is not a code
        if sep and (len(word) < 2 or not word[0].isupper()):
            continue
        found.add(f"m:{word}{ver}{tail}".lower())
    return found


def latin_names(text: str, script: str, lang: str | None) -> tuple[set[str], set[str]]:
    """Latin-script names: every Latin word inside CJK/Cyrillic text, capitalised words
    (not sentence-initial, not stop words) inside Latin text. German capitalises every noun:
    there only CamelCase and all-caps words count.

    Returns (names, weak): the plainly capitalised words of Latin text are weak evidence
    ("Commission", "Party" are names in English and common words elsewhere)."""
    found: set[str] = set()
    weak: set[str] = set()
    if script != "latin":
        for word in set(_LATIN_WORD.findall(text)):
            lower = word.lower()
            if len(word) >= 2 and lower not in _CAPITAL_STOP:
                found.add(f"l:{lower}")
        return found, weak
    # A plainly capitalised word counts when one of its occurrences is not at a sentence
    # start: when it occurs more often than at sentence starts.
    occurrences = Counter(_CAPITAL_WORD.findall(text))
    initial: Counter[str] | None = None
    for word, count in occurrences.items():
        lower = word.lower()
        if len(word) < 2 or lower in _CAPITAL_STOP or not word[0].isupper():
            continue
        if word[1:] != word[1:].lower():  # CamelCase or all caps: a name wherever it stands
            found.add(f"l:{lower}")
            continue
        if lang == "de":
            continue
        if initial is None:
            initial = Counter(_INITIAL_CAPITAL_WORD.findall(text))
        if count > initial[word]:
            found.add(f"l:{lower}")
            weak.add(f"l:{lower}")
    return found, weak


# ---- the compiled anchor finder ------------------------------------------------------------


def native_unit_words() -> tuple[list[tuple[str, bool, float]], list[tuple[str, bool, float]]]:
    """The units of `_NUMBER` for the compiled core: (word, percent?, multiplier) of the
    word units (`unit`, a letter must not follow) and of the sign units (`sign`), each in
    the order of the regex's alternation (longest first)."""

    def spec(unit: str) -> tuple[str, bool, float]:
        percent = unit in _PERCENT_WORDS or unit.startswith("процент")
        return unit, percent, 0.0 if percent else _MULTIPLIERS[unit]

    words = [spec(u) for u in _UNITS if u[0].isalpha() and u[0] < "\u2e80"]
    signs = [spec(u) for u in _UNITS if not (u[0].isalpha() and u[0] < "\u2e80")]
    return words, signs


def native_month_words() -> list[str]:
    """The words of `_MONTHS` for the compiled core."""
    return _MONTH_WORDS.split("|")


def _load_native() -> Anchors | None:
    """The compiled `numbers` + `model_codes` + `latin_names` (agents/tagging/native/src/
    anchors.rs), built from this module's word lists; None when the core is not built."""
    from newswatch.agents.tagging.fastpath import load_native  # logs a missing core once

    native = load_native()
    if native is None or not hasattr(native, "Anchors"):  # not built, or built before it
        log.info("story anchors: pure Python (no compiled Anchors)")
        return None
    anchors: type[Anchors] = native.Anchors
    words, signs = native_unit_words()
    try:
        return anchors(words, signs, sorted(_CAPITAL_STOP), native_month_words())
    except ValueError as exc:  # a word with a character anchor_tables.py does not cover
        log.warning("story anchors: pure Python (%s)", exc)
        return None


_NATIVE = _load_native()


def _number_key(percent: bool, value: float) -> str:
    return f"p:{value:g}" if percent else f"n:{_magnitude_key(value)}"


def find_anchors(
    text: str, script: str, lang: str | None
) -> tuple[set[str], set[str], set[str], set[str]]:
    """`numbers(text)`, `model_codes(text)` and `latin_names(text, script, lang)` (names,
    weak) in one call: by the compiled core when it is built, which hands back the same sets
    (the amounts as numbers, formatted here), else by the functions above. Texts the compiled
    side does not take (lone surrogates, a unit written with a character whose lower case is
    not the unit's) go to the functions above."""
    if _NATIVE is not None:
        found = _NATIVE.find(text, script == "latin", lang == "de")
        if found is not None:
            amounts, codes, words, weak_words = found
            keys = {_number_key(p, v) for p, v in amounts}
            return keys, set(codes), set(words), set(weak_words)
    names, weak = latin_names(text, script, lang)
    return numbers(text), model_codes(text), names, weak


# ---- the whole feature set -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Features:
    """The shingles and anchors of one article."""

    script: str
    shingles: frozenset[bytes]
    anchors: frozenset[str]
    weak: frozenset[str] = frozenset()  # anchors that count less for this article


def extract(
    title: str,
    text: str,
    lang: str | None,
    entities: Iterable[str],
    themes: Iterable[str],
    gazetteer_keys: Iterable[str],
) -> Features:
    """All features of one article. `gazetteer_keys` come from `Gazetteer.find`."""
    full, lowered = normalise(title, text)
    return extract_normalised(full, lowered, lang, entities, themes, gazetteer_keys)


def extract_article(
    title: str,
    text: str,
    lang: str | None,
    entities: Iterable[str],
    themes: Iterable[str],
    gazetteer: Gazetteer,
) -> Features:
    """`extract` with the gazetteer's keys found here: the text is normalised once for the
    gazetteer, the shingles and the anchors."""
    full, lowered = normalise(title, text)
    keys = gazetteer.find_normalized(lowered)
    return extract_normalised(full, lowered, lang, entities, themes, keys)


def normalise(title: str, text: str) -> tuple[str, str]:
    """The NFKC-normalised `f"{title}\\n{text}"` and its lower case: what every feature
    reads."""
    full = unicodedata.normalize("NFKC", f"{title}\n{text}")
    return full, full.lower()


def extract_normalised(
    full: str,
    lowered: str,
    lang: str | None,
    entities: Iterable[str],
    themes: Iterable[str],
    gazetteer_keys: Iterable[str],
    with_shingles: bool = True,
) -> Features:
    """`extract` of a text `normalise` made. Without `with_shingles`, `Features.shingles` is
    left empty: for a caller that makes the MinHash signature from `lowered` itself (the
    compiled core does, see `engine.FeatureMaker.prepare`)."""
    script = script_of(full)
    anchors = {f"e:{e}" for e in entities} | {f"t:{t}" for t in themes}
    anchors.update(gazetteer_keys)
    amounts, codes, names, weak = find_anchors(full, script, lang)
    anchors.update(amounts)
    anchors.update(codes)
    # A name that is also a model family ("Qwen" of "Qwen2.5") stays a name too.
    # "DeepSeek" as a name says no more than the entity "deepseek" the tagger found.
    anchors.update(n for n in names if f"e:{n[2:]}" not in anchors)
    return Features(
        script,
        _shingles(lowered, script) if with_shingles else frozenset(),
        frozenset(anchors),
        frozenset(weak & anchors),
    )

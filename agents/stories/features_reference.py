"""The plain reference implementation of features.py, and of the MinHash signature.

features.py computes the same things faster (fewer regex passes, regexes the engine can scan
quickly, per-word instead of per-occurrence work, one normalisation shared by the gazetteer,
shingles and anchors, the MinHash without datasketch's per-call overhead). Its output must
equal this module's exactly: the story engine's determinism, its snapshots and its dev-set
quality depend on it. tests/unit/agents/stories/test_story_features_reference.py compares the two
over the dev set and edits of it; bench/story_features_check.py over real feed entries.
Keep this module unchanged unless the features are meant to change (then change both and
raise `FeatureMaker.VERSION`).
"""

from __future__ import annotations

import itertools
import math
import re
import unicodedata
import zlib
from collections.abc import Iterable

import numpy as np
from datasketch import MinHash

from newswatch.agents.stories.features import Features

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
    if (script or script_of(full)) == "unspaced":
        # Letters, digits and marks: Thai vowels and tone marks are combining marks.
        chars = _NOT_CHAR.sub("", full)
        if len(chars) < CHAR_NGRAM:
            return {chars.encode()} if chars else set()
        return {chars[i : i + CHAR_NGRAM].encode() for i in range(len(chars) - CHAR_NGRAM + 1)}
    words = _WORD.findall(full)
    if len(words) < 2:
        return {w.encode() for w in words}
    return {f"{a} {b}".encode() for a, b in itertools.pairwise(words)}


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
_NUMBER = re.compile(
    r"(?<![0-9A-Za-z.,])(?P<num>\d{1,3}(?:[.,\u00a0\u202f ]\d{3})+(?![\d])|\d+(?:[.,]\d+)?)"
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
    r"(?<![0-9.,])(?P<ver>\d+(?:\.\d+)?)(?P<tail>[A-Za-z]{0,2})"
    r"(?![A-Za-z0-9]|[日月年号號時时点點])"
)
_WORD_BEFORE = re.compile(r"(?<![A-Za-z0-9])(?P<word>[A-Za-z]{1,13})(?P<sep>[ \-]?)$")
_LATIN_WORD = re.compile(r"(?<![A-Za-zÀ-ɏ0-9])[A-Za-zÀ-ɏ]+(?![A-Za-zÀ-ɏ0-9])")
# The same, starting with a capital (Latin-1 and Latin Extended-A capitals; the rest is
# checked with str.isupper): Latin text has many words and few names.
_CAPITAL_WORD = re.compile(r"(?<![A-Za-zÀ-ɏ0-9])[A-ZÀ-ÖØ-ÞĀ-Ž][A-Za-zÀ-ɏ]*(?![A-Za-zÀ-ɏ0-9])")
_SENTENCE_END = re.compile(r"[.!?。！？:;«»\"“”„\n]\s*$")

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
_MONTHS = re.compile(
    r"(?i)\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|januar|februar|märz|mai|juni|"
    r"juli|oktober|dezember|janvier|février|mars|avril|juin|juillet|août|septembre|octobre|"
    r"novembre|décembre|enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|octubre|"
    r"noviembre|diciembre|janeiro|fevereiro|março|maio|junho|julho|setembro|outubro|novembro|"
    r"dezembro|января|февраля|марта|апреля|мая|июня|июля|августа|сентября|октября|ноября|"
    r"декабря|tháng)\w*"
)
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
    for match in (_LATIN_WORD if script != "latin" else _CAPITAL_WORD).finditer(text):
        word = match.group()
        lower = word.lower()
        if len(word) < 2 or lower in _CAPITAL_STOP:
            continue
        if script != "latin":
            found.add(f"l:{lower}")
            continue
        if not word[0].isupper():
            continue
        camel = word[1:] != word[1:].lower()
        if lang == "de" and not camel:
            continue
        before = text[max(0, match.start() - 3) : match.start()]
        if not camel and (match.start() == 0 or _SENTENCE_END.search(before)):
            continue  # sentence start: capitalised because it starts a sentence
        found.add(f"l:{lower}")
        if not camel:
            weak.add(f"l:{lower}")
    return found, weak


# ---- the whole feature set -----------------------------------------------------------------


def extract(
    title: str,
    text: str,
    lang: str | None,
    entities: Iterable[str],
    themes: Iterable[str],
    gazetteer_keys: Iterable[str],
) -> Features:
    """All features of one article. `gazetteer_keys` come from `Gazetteer.find`."""
    full = unicodedata.normalize("NFKC", f"{title}\n{text}")
    script = script_of(full)
    anchors = {f"e:{e}" for e in entities} | {f"t:{t}" for t in themes}
    anchors.update(gazetteer_keys)
    anchors.update(numbers(full))
    codes = model_codes(full)
    anchors.update(codes)
    # A name that is also a model family ("Qwen" of "Qwen2.5") stays a name too.
    names, weak = latin_names(full, script, lang)
    # "DeepSeek" as a name says no more than the entity "deepseek" the tagger found.
    anchors.update(n for n in names if f"e:{n[2:]}" not in anchors)
    return Features(
        script,
        frozenset(shingles(title, text, script)),
        frozenset(anchors),
        frozenset(weak & anchors),
    )


def signature(
    shingles: Iterable[bytes], num_perm: int, seed: int, scheme: str = "affine32"
) -> np.ndarray:
    """The MinHash of shingles as `FeatureMaker.signature` made it with datasketch: crc32
    of each shingle, datasketch's permutations of (num_perm, seed, scheme)."""
    mh = MinHash(num_perm=num_perm, seed=seed, scheme=scheme, hashfunc=zlib.crc32)
    mh.update_batch(sorted(shingles))
    return mh.hashvalues.copy()

"""Light, offline language identification: Unicode script ranges, then stopwords.

Good enough to label news text for metrics and per-language evaluation; the tagging itself
does not depend on the language (articles mix scripts and languages freely).
"""

from __future__ import annotations

import re
from collections import Counter

SAMPLE = 4000  # characters looked at; the start of an article says enough
_WORD = re.compile(r"[^\W\d_]+")

_STOPWORDS: dict[str, frozenset[str]] = {
    lang: frozenset(words.split())
    for lang, words in {
        "en": "the and of to in is that for with was on are as by it this from have has be "
        "an its which said will their not but at or were been after than more about",
        "de": "der die und das ist nicht mit den von zu sich auf für ein eine dem des im "
        "auch wird werden als bei nach oder wie hat sind einer noch über",
        "fr": "le la les des et est une du que pour dans qui sur pas au aux ne avec ce "
        "en par plus cette sont a été son ses leur d l",
        "es": "el la los las de que y en un una por con para es se del al su como más "
        "lo pero sus ha sobre este entre fue",
        "it": "il la di che e un una per con non sono del della gli nel alla le è dei "
        "delle anche ha al lo si più questo come",
        "pt": "o a os as de que e um uma para com não do da em no na dos das é ao pelo "
        "pela mais como foi seu sua também",
        "vi": "và của là các những được trong có cho với một này đã không người khi "
        "cua va la cac nhung duoc trong co cho voi mot nay da khong nguoi",
        "id": "yang dan di ini itu dengan untuk dari dalam tidak akan pada adalah juga "
        "oleh ke bahwa atau telah dapat karena",
        "nl": "de het een en van is dat niet op te met voor zijn ook door bij naar om",
        "pl": "i w nie na się z że do jest to jak po od przez oraz dla jego",
        "tr": "ve bir bu da de için ile olarak çok daha gibi ancak ise kadar",
    }.items()
}
_VI_LETTERS = frozenset("ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ")


def detect(text: str) -> str:
    """ISO 639-1 code of the text's language, or "und" when there is nothing to go on."""
    sample = text[:SAMPLE]
    scripts: Counter[str] = Counter()
    for ch in sample:
        if ch.isascii():
            if ch.isalpha():
                scripts["latin"] += 1
            continue
        scripts[_script(ch)] += 1
    scripts.pop("other", None)
    if not scripts:
        return "und"
    han, kana, hangul = scripts["han"], scripts["kana"], scripts["hangul"]
    cjk = han + kana + hangul
    latin = scripts["latin"]
    if cjk and cjk * 2 >= latin * 0.5:  # a CJK character carries ~4 Latin letters of text
        if hangul >= max(han, kana) * 0.5:
            return "ko"
        if kana >= 0.05 * (han + kana):
            return "ja"
        return "zh"
    top = scripts.most_common(1)[0][0]
    if top in ("cyrillic", "greek", "arabic", "hebrew", "thai", "devanagari"):
        return _NON_LATIN[top](sample) if callable(_NON_LATIN[top]) else _NON_LATIN[top]
    return _latin(sample)


def _script(ch: str) -> str:
    o = ord(ch)
    if 0x00C0 <= o <= 0x024F or 0x1E00 <= o <= 0x1EFF:
        return "latin"
    if 0x0400 <= o <= 0x052F:
        return "cyrillic"
    if 0x3040 <= o <= 0x30FF or 0x31F0 <= o <= 0x31FF or 0xFF66 <= o <= 0xFF9F:
        return "kana"
    if 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0xF900 <= o <= 0xFAFF:
        return "han"
    if 0xAC00 <= o <= 0xD7AF or 0x1100 <= o <= 0x11FF or 0x3130 <= o <= 0x318F:
        return "hangul"
    if 0x0370 <= o <= 0x03FF:
        return "greek"
    if 0x0600 <= o <= 0x06FF:
        return "arabic"
    if 0x0590 <= o <= 0x05FF:
        return "hebrew"
    if 0x0E00 <= o <= 0x0E7F:
        return "thai"
    if 0x0900 <= o <= 0x097F:
        return "devanagari"
    if 0xFF21 <= o <= 0xFF5A:
        return "latin"
    return "other"


def _cyrillic(sample: str) -> str:
    if any(c in "іїєґІЇЄҐ" for c in sample):
        return "uk"
    return "ru"


_NON_LATIN = {
    "cyrillic": _cyrillic,
    "greek": "el",
    "arabic": "ar",
    "hebrew": "he",
    "thai": "th",
    "devanagari": "hi",
}


def _latin(sample: str) -> str:
    low = sample.lower()
    vi_marks = sum(1 for c in low if c in _VI_LETTERS)
    if vi_marks >= 3 and vi_marks >= 0.02 * len(low):
        return "vi"
    counts: Counter[str] = Counter()
    for word in _WORD.findall(low):
        for lang, words in _STOPWORDS.items():
            if word in words:
                counts[lang] += 1
    if not counts:
        return "en" if low.isascii() and any(c.isalpha() for c in low) else "und"
    return counts.most_common(1)[0][0]


def primary(code: str) -> str:
    """The BCP 47 primary subtag, lower case ("de-DE" -> "de", "zh_Hant" -> "zh")."""
    return code.replace("_", "-").split("-", 1)[0].strip().lower() or "und"

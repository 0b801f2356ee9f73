"""Light, offline language identification: Unicode script ranges, then stopwords.

Good enough to label news text for metrics and per-language evaluation; the tagging itself
does not depend on the language (articles mix scripts and languages freely).
"""

from __future__ import annotations

import re

SAMPLE = 400  # characters looked at; the start of an article says enough
LATIN_SAMPLE = 200  # ~30 words: enough stopwords to tell Latin-script languages apart
_WORD = re.compile(r"[^\W\d_]+")

_STOPWORDS: dict[str, frozenset[str]] = {
    lang: frozenset(words.split())
    for lang, words in {
        "en": "the and of to in is that for with was on are as by it this from have has be "
        "an its which said will their not but at or were been after than more about would "
        "who they its into over also new",
        "de": "der die und das ist nicht mit den von zu sich auf für ein eine dem des im "
        "auch wird werden als bei nach oder wie hat sind einer noch über vor zum zur einen "
        "seine sein ihre wurde sowie durch",
        "fr": "le la les des et est une du que pour dans qui sur pas au aux ne avec ce de "
        "en par plus cette sont été son ses leur l d qu selon mais aussi entre ont était "
        "elle il nous vers",
        "es": "el los las de que y en un una por con para es se del al su como más lo pero "
        "sus ha sobre este entre fue según tras también desde está hasta cuando muy sin "
        "ya le",
        "it": "il di che e un una per non sono del della gli nel alla le è dei delle anche "
        "ha al lo si più questo come dalla nella sulla alle dai ai sul ed cui ancora già "
        "stato stata essere degli dello",
        "pt": "o os as de que e um uma para com não do da em no na dos das é ao pelo pela "
        "mais como foi seu sua também à são ou quando já nos após sobre ainda",
        "vi": "và của là các những được trong có cho với một này đã không người khi sẽ "
        "cua va la cac nhung duoc nguoi mot nay khong",
        "id": "yang dan di ini itu dengan untuk dari dalam tidak akan pada adalah juga "
        "oleh ke bahwa atau telah dapat karena setelah hingga sebagai tentang pernah "
        "menjadi para bisa sudah lebih saat tahun ada mereka secara namun seperti masih "
        "baru serta terbaru merilis",
        "nl": "de het een en van is dat niet op te met voor zijn ook door bij naar om",
        "pl": "i w nie na się z że do jest to jak po od przez oraz dla jego",
        "tr": "ve bir bu da de için ile olarak çok daha gibi ancak ise kadar",
    }.items()
}
_LETTERS = (
    ("vi", "ơưđạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ"),
    ("de", "äöüß"),
    ("fr", "èêëîïçœû"),
    ("es", "ñ¿¡"),
    ("pt", "ãõ"),
    ("it", "ìò"),
    ("pl", "ąęłńśźż"),
    ("tr", "ğışİ"),
)
_LANGS_OF: dict[str, tuple[str, ...]] = {}
for _lang, _words in _STOPWORDS.items():
    for _w in _words:
        _LANGS_OF[_w] = (*_LANGS_OF.get(_w, ()), _lang)


def detect(text: str) -> str:
    """ISO 639-1 code of the text's language, or "und" when there is nothing to go on."""
    sample = text[:SAMPLE]
    if sample.isascii() or not _NOT_LATIN.search(sample):
        return _latin(sample[:LATIN_SAMPLE])
    han = len(_HAN.findall(sample))
    kana = len(_KANA.findall(sample))
    hangul = len(_HANGUL.findall(sample))
    cjk = han + kana + hangul
    latin = len(_LATIN.findall(sample))
    if cjk and cjk * 4 >= latin:  # a CJK character carries ~4 Latin letters of text
        if hangul >= max(han, kana) * 0.5:
            return "ko"
        if kana >= 0.05 * (han + kana):
            return "ja"
        return "zh"
    best, best_count = "", 0
    for name, pattern in _OTHER_SCRIPTS:
        count = len(pattern.findall(sample))
        if count > best_count:
            best, best_count = name, count
    # Brand names are often in Latin letters inside Cyrillic or Greek text: a third is enough.
    if best and best_count * 3 >= latin:
        return ("uk" if _UKRAINIAN.search(sample) else "ru") if best == "cyrillic" else best
    return _latin(sample[:LATIN_SAMPLE])


_HAN = re.compile("[\u4e00-\u9fff\u3400-\u4dbf\uf900-\ufaff]")
_KANA = re.compile("[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]")
_HANGUL = re.compile("[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]")
_LATIN = re.compile("[A-Za-z\u00c0-\u024f\u1e00-\u1eff]")
# Any letter of a script other than Latin (punctuation, symbols and digits are ignored).
_NOT_LATIN = re.compile("[\\u0370-\\u1dff\\u2e80-\\ud7ff\\uf900-\\ufaff\\uff66-\\uffdc]")
_UKRAINIAN = re.compile("[іїєґІЇЄҐ]")
_OTHER_SCRIPTS = (
    ("cyrillic", re.compile("[\u0400-\u052f]")),
    ("el", re.compile("[\u0370-\u03ff]")),
    ("ar", re.compile("[\u0600-\u06ff]")),
    ("he", re.compile("[\u0590-\u05ff]")),
    ("th", re.compile("[\u0e00-\u0e7f]")),
    ("hi", re.compile("[\u0900-\u097f]")),
)
_VI = re.compile("[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]")


def _latin(sample: str) -> str:
    low = sample.lower().replace("'", " ").replace("’", " ")  # l'île -> l île
    counts: dict[str, float] = {}
    get = _LANGS_OF.get
    for word in set(low.split()):  # distinct words; words glued to punctuation are skipped
        langs = get(word)
        if langs:
            share = 1.0 / len(langs)  # "de" says little, "della" a lot
            for lang in langs:
                counts[lang] = counts.get(lang, 0.0) + share
    if not low.isascii():
        for lang, letters in _LETTERS:  # letters some languages use and others do not
            hits = sum(low.count(c) for c in letters)
            if hits:
                counts[lang] = counts.get(lang, 0.0) + min(hits, 6) * 0.5
    if not counts:
        return "en" if low.isascii() and any(c.isalpha() for c in low) else "und"
    return max(sorted(counts), key=counts.__getitem__)  # ties: alphabetical, deterministic


def primary(code: str) -> str:
    """The BCP 47 primary subtag, lower case ("de-DE" -> "de", "zh_Hant" -> "zh")."""
    return code.replace("_", "-").split("-", 1)[0].strip().lower() or "und"

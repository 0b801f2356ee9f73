"""Light, offline language identification: Unicode script ranges, then stopwords.

Good enough to label news text for metrics and per-language evaluation; the tagging itself
does not depend on the language (articles mix scripts and languages freely).
"""

from __future__ import annotations

import bisect
import math
import re

SAMPLE = 300  # characters looked at; the start of an article says enough
LATIN_SAMPLE = 160  # ~25 words: enough stopwords to tell Latin-script languages apart
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
        "tl": "ang ng sa mga na at ay si ni para kay ito mula noong nang hindi rin din may "
        "ayon nito siya niya kanyang dahil upang",
        "nl": "de het een en van is dat niet op te met voor zijn ook door bij naar om heeft "
        "werd wordt worden deze die nog maar wel",
        "pl": "i w nie na się z że do jest to jak po od przez oraz dla jego który która "
        "które także już roku proc po tym",
        "tr": "ve bir bu da de için ile olarak çok daha gibi ancak ise kadar olan göre sonra "
        "yeni yüzde değil şirketi",
        # Czech and Slovak share "je, že, na, v, a, to, ale"; the rest tells them apart.
        "cs": "je že na v to ale se jsou jako také podle již není který která které byl "
        "byla bylo pro při jeho jejich když než společnost",
        "sk": "je že na v to ale sa sú ako tiež podľa už nie ktorý ktorá ktoré bol bola "
        "bolo pre pri jeho ich keď než spoločnosť",
        # Swedish against Norwegian (Bokmål); Danish is told from Norwegian afterwards
        # (`LATIN_REFINE`): the two share nearly every function word.
        "sv": "och är att det som en på av för med den till inte har om ett var men de han "
        "också efter vid från sina sedan enligt bolaget",
        "no": "og er at det som en på av for med den til ikke har om et var men de han "
        "også etter ved fra sine selskapet ifølge hva",
        "ro": "și şi în cu pe care nu din pentru mai este sunt au fost că după prin sau lui "
        "companiei iar",
        "hu": "a az és hogy nem is egy ez meg már csak mint volt van lesz után szerint "
        "között pedig vagy miatt amely",
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
    ("cs", "ěřůčšžťďň"),
    ("sk", "ľĺŕôäňčšžťď"),
    ("ro", "ăâîșțşţ"),
    ("hu", "őű"),
    ("sv", "åäö"),
    ("no", "æø"),
)
# Languages that share nearly all function words with another: when the stopword step picks
# `base`, the text is `alt` if it holds more of `alt`'s own words than of `base`'s.
_REFINE_WORDS = {
    "id": "bahwa karena setelah bisa saat merilis uang perusahaan miliar persen yaitu tersebut "
    "pemerintah terbaru sementara kini mengurangi",
    "ms": "bahawa kerana selepas boleh wang syarikat bilion peratus iaitu kerajaan manakala "
    "turut pelancaran melancarkan pemaju ialah baharu pasaran mengurangkan berkata beliau "
    "kira-kira mendakwa bimbang ketara memindahkan",
    "no": "av etter selskapet hva ikkje kroner mellom blitt",
    "da": "af efter selskabet hvad kroner mellem blevet gennem",
}
LATIN_REFINE: tuple[tuple[str, str, frozenset[str], frozenset[str]], ...] = tuple(
    (base, alt, frozenset(_REFINE_WORDS[base].split()), frozenset(_REFINE_WORDS[alt].split()))
    for base, alt in (("id", "ms"), ("no", "da"))
)
_LETTER_SETS = tuple((lang, frozenset(letters)) for lang, letters in _LETTERS)
_LANGS_OF: dict[str, tuple[str, ...]] = {}
for _lang, _words in _STOPWORDS.items():
    for _w in _words:
        _LANGS_OF[_w] = (*_LANGS_OF.get(_w, ()), _lang)
_STOPWORD_SET = frozenset(_LANGS_OF)
_SHARES = {w: tuple((lang, 1.0 / len(langs)) for lang in langs) for w, langs in _LANGS_OF.items()}
# Scores are summed as integers in units of 1 / (2 * lcm of every n), as the compiled
# detector does: float sums taken in set order could break exact ties either way.
_UNIT = 2 * math.lcm(*(len(langs) for langs in _LANGS_OF.values()))
_INT_SHARES = {
    w: tuple((lang, _UNIT // len(langs)) for lang in langs) for w, langs in _LANGS_OF.items()
}


def detect(text: str) -> str:
    """ISO 639-1 code of the text's language, or "und" when there is nothing to go on."""
    sample = text[:SAMPLE]
    if sample.isascii():
        return _latin(sample[:LATIN_SAMPLE])
    # Scripts by their distinct code points, sorted (ints sort fast): one C bisect per script
    # range boundary counts the distinct characters of each range.
    codes = sorted(map(ord, set(sample)))
    first = bisect.bisect_left(codes, 0x0370)
    if first == len(codes) or (codes[first] >= 0x2000 and codes[-1] < 0x2070):
        # ASCII, Latin and punctuation ("’", "…") only: left to the stopword step, which
        # skips its letter check when the only non-ASCII characters are punctuation.
        letters = codes[bisect.bisect_left(codes, 0x80)] < 0x2000
        return _latin(sample[:LATIN_SAMPLE], letters)
    counts: dict[str, int] = {}
    cuts = [bisect.bisect_left(codes, start, first) for start in _SCRIPT_STARTS]
    cuts.append(len(codes))
    for index, script in enumerate(_SCRIPTS):
        if script and cuts[index + 1] > cuts[index]:
            counts[script] = counts.get(script, 0) + cuts[index + 1] - cuts[index]
    if not counts:
        return _latin(sample[:LATIN_SAMPLE])
    han, kana, hangul = counts.get("han", 0), counts.get("kana", 0), counts.get("hangul", 0)
    cjk = 0
    if han + kana + hangul >= 4:  # mostly CJK, or a few CJK words in Latin text?
        cjk = len(sample) - _BELOW_CJK.subn("", sample)[1]
    other = max((c for s, c in counts.items() if s not in ("han", "kana", "hangul")), default=0)
    few = han + kana + hangul > other and _latin(sample[:LATIN_SAMPLE]) == "und"
    if cjk * 6 >= len(sample) or few:
        if hangul >= max(han, kana) * 0.5:
            return "ko"
        if kana >= 3 or (kana and not han):
            return "ja"
        return "zh"
    best = max(counts, key=counts.__getitem__)
    if counts[best] >= 6 and best not in ("han", "kana", "hangul"):
        refine = REFINE.get(best)
        if refine is not None:
            for lang, marks in refine[0]:
                if any(ch in sample for ch in marks):
                    return lang
            return refine[1]
        return best
    return _latin(sample[:LATIN_SAMPLE])


# Script of each code point range (start, name); None: not a script we tell apart.
_RANGES = (
    (0x0370, "el"), (0x0400, "cyrillic"), (0x0530, None), (0x0590, "he"), (0x0600, "ar"),
    (0x0700, None), (0x0900, "hi"), (0x0980, "bn"), (0x0A00, None), (0x0E00, "th"),
    (0x0E80, None),
    (0x1100, "hangul"), (0x1200, None), (0x3040, "kana"), (0x3100, None), (0x3130, "hangul"),
    (0x3190, None), (0x31F0, "kana"), (0x3200, None), (0x3400, "han"), (0x4DC0, None),
    (0x4E00, "han"), (0xA000, None), (0xAC00, "hangul"), (0xD7B0, None), (0xF900, "han"),
    (0xFB00, None), (0xFF66, "kana"), (0xFFA0, "hangul"), (0xFFE0, None),
)  # fmt: skip
_SCRIPT_STARTS = [start for start, _ in _RANGES]
_SCRIPTS = [name for _, name in _RANGES]
_BELOW_CJK = re.compile("[^\u3040-\U0010ffff]")
# A script shared by several languages: the first language with a letter of its own in the
# sample, else the default. Urdu before Persian (Urdu writes ی and ک too); Arabic uses neither.
REFINE: dict[str, tuple[tuple[tuple[str, str], ...], str]] = {
    "cyrillic": ((("uk", "іїєґІЇЄҐ"),), "ru"),
    "ar": ((("ur", "ٹڈڑںےۓھہ"), ("fa", "یکگچژ")), "ar"),
}


def _latin(sample: str, letters: bool = True) -> str:
    low = sample.lower().replace("'", " ").replace("’", " ")  # l'île -> l île
    counts: dict[str, int] = {}
    # Distinct words that are stopwords; words glued to punctuation are skipped.
    for word in _STOPWORD_SET.intersection(low.split()):
        for lang, share in _INT_SHARES[word]:  # "de" says little, "della" a lot
            counts[lang] = counts.get(lang, 0) + share
    if letters and not low.isascii():
        present = set(low)  # letters some languages use and others do not
        for lang, lang_letters in _LETTER_SETS:
            common = present & lang_letters
            if common:
                hits = sum(map(low.count, common))
                counts[lang] = counts.get(lang, 0) + min(hits, 6) * (_UNIT // 2)
    if not counts:
        return "en" if low.isascii() and any(c.isalpha() for c in low) else "und"
    best = max(sorted(counts), key=counts.__getitem__)  # ties: alphabetical, deterministic
    for base, alt, base_words, alt_words in LATIN_REFINE:
        if best == base:
            words = set(low.split())
            if len(words & alt_words) > len(words & base_words):
                return alt
    return best


def primary(code: str) -> str:
    """The BCP 47 primary subtag, lower case ("de-DE" -> "de", "zh_Hant" -> "zh")."""
    return code.replace("_", "-").split("-", 1)[0].strip().lower() or "und"

"""The languages the tagger covers, and which of them an entity has names in.

A language is covered for an entity when the catalogue lists an alias for it: under its own
code (`ar: [...]`), under `latin` for a Latin-script language (the press of Turkish, Polish,
Swedish ... writes "DeepSeek" and "Alibaba" as they are), or under `other` in its script.
`newswatch catalogue check` lists the gaps.
"""

from __future__ import annotations

from newswatch.agents.tagging.catalogue import Entity

# code -> (name, script)
LANGUAGES: dict[str, tuple[str, str]] = {
    "en": ("English", "latin"), "de": ("German", "latin"), "fr": ("French", "latin"),
    "es": ("Spanish", "latin"), "it": ("Italian", "latin"), "pt": ("Portuguese", "latin"),
    "vi": ("Vietnamese", "latin"), "id": ("Indonesian", "latin"), "zh": ("Chinese", "han"),
    "ja": ("Japanese", "kana"), "ko": ("Korean", "hangul"), "ru": ("Russian", "cyrillic"),
    "ar": ("Arabic", "arabic"), "fa": ("Persian", "arabic"), "ur": ("Urdu", "arabic"),
    "he": ("Hebrew", "hebrew"), "tr": ("Turkish", "latin"), "hi": ("Hindi", "devanagari"),
    "bn": ("Bengali", "bengali"), "th": ("Thai", "thai"), "ms": ("Malay", "latin"),
    "tl": ("Tagalog", "latin"), "uk": ("Ukrainian", "cyrillic"), "pl": ("Polish", "latin"),
    "nl": ("Dutch", "latin"), "cs": ("Czech", "latin"), "sv": ("Swedish", "latin"),
    "el": ("Greek", "greek"), "ro": ("Romanian", "latin"), "hu": ("Hungarian", "latin"),
}  # fmt: skip
LATIN = frozenset(code for code, (_, script) in LANGUAGES.items() if script == "latin")
# The language an alias listed under `other` is counted for, by its script.
_OTHER = {"arabic": "ar", "hebrew": "he", "devanagari": "hi", "bengali": "bn", "thai": "th",
          "greek": "el", "cyrillic": "ru"}  # fmt: skip
_SCRIPTS = (
    (0x0370, 0x0400, "greek"), (0x0400, 0x0530, "cyrillic"), (0x0590, 0x0600, "hebrew"),
    (0x0600, 0x0700, "arabic"), (0x0900, 0x0980, "devanagari"), (0x0980, 0x0A00, "bengali"),
    (0x0E00, 0x0E80, "thai"), (0x3040, 0x3100, "kana"), (0x4E00, 0xA000, "han"),
    (0xAC00, 0xD7A4, "hangul"),
)  # fmt: skip


def script_of(alias: str) -> str:
    """The script of an alias's first letter ("latin" for Latin letters and digits)."""
    for ch in alias:
        if ch.isalpha():
            code = ord(ch)
            for lo, hi, name in _SCRIPTS:
                if lo <= code < hi:
                    return name
            return "latin" if code < 0x0250 or 0x1E00 <= code < 0x1F00 else "other"
    return "latin"


def covered(entity: Entity) -> set[str]:
    """The languages `entity` has at least one alias (plain or ambiguous) in."""
    out: set[str] = set()
    for key, aliases in entity.by_key:
        if key in LANGUAGES:
            out.add(key)
        elif key == "latin":
            if any(script_of(a) == "latin" for a in aliases):
                out |= LATIN
        elif key == "other":
            out.update(_OTHER[s] for s in map(script_of, aliases) if s in _OTHER)
    return out


def missing(entity: Entity, languages: list[str] | None = None) -> list[str]:
    """The languages (of `languages`, default all of LANGUAGES) `entity` has no alias in."""
    have = covered(entity)
    return [code for code in (languages or list(LANGUAGES)) if code not in have]

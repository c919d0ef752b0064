"""Language tags as files and containers write them: ``en``, ``eng``, ``en-US``, ``English``."""

from __future__ import annotations

__all__ = ["language_key", "language_matches"]

_TWO_TO_THREE = {
    "ar": "ara", "de": "deu", "en": "eng", "es": "spa", "fr": "fra", "hi": "hin", "it": "ita",
    "ja": "jpn", "ko": "kor", "nl": "nld", "pl": "pol", "pt": "por", "ru": "rus", "sv": "swe",
    "tr": "tur", "uk": "ukr", "vi": "vie", "zh": "zho",
}  # fmt: skip
_ALIASES = {"ger": "deu", "fre": "fra", "dut": "nld", "chi": "zho", "english": "eng", "french": "fra"}


def language_key(tag: str | None) -> str | None:
    """A comparable key of ``tag``: ISO 639-2/T three letters when known (``en-US`` -> ``eng``)."""
    if not tag:
        return None
    primary = tag.strip().lower().replace("_", "-").split("-")[0]
    primary = _TWO_TO_THREE.get(primary, primary)
    return _ALIASES.get(primary, primary)


def language_matches(tag: str | None, wanted: str) -> bool:
    """True when ``tag`` names the language ``wanted`` (``"eng"`` matches ``"en"`` and ``"en-GB"``)."""
    key = language_key(tag)
    return key is not None and key == language_key(wanted)

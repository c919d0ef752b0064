"""Grounding by what is said: the cues a question about speech asks for ("when does the speaker say
"budget"?", "when is the budget mentioned?").

A question is *about speech* when it uses a speech word (say, said, mention, speak, talk, hear,
announce, ...). Its phrase is the quoted text when it quotes one, else its content words (the
question without its speech, question and stop words). A cue matches a quoted phrase that it
contains (case, punctuation and spacing ignored); for content words, the cues holding the most of
them match (at least half of them, words compared without a plural ``s``). The spans are the
matching cues' own times: when the words are on screen (subtitles) or said (speech recognition).
"""

from __future__ import annotations

import re

from videoqa.text._types import Cue, Transcript

__all__ = ["about_speech", "heard_cues"]

_SPEECH_WORDS = (
    "say says said saying mention mentions mentioned mentioning speak speaks spoke speaking speaker "
    "talk talks talked talking hear heard announce announces announced announcing utter utters uttered "
    "pronounce pronounces pronounced"
)
_STOP_WORDS = (
    "a an the of to in on at by for from with about is are was were be been being do does did done "
    "when where what which who whom whose how why that this these those it its they them their he she "
    "his her him we our you your i me my someone somebody person people anyone video clip moment time "
    "first last word words phrase and or as into out up"
)
_SPEECH, _STOP = frozenset(_SPEECH_WORDS.split()), frozenset(_STOP_WORDS.split())
_QUOTED = re.compile(r"[\"“”«»]([^\"“”«»]+)[\"“”«»]|'([^']{2,})'")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def about_speech(question: str) -> bool:
    """True when ``question`` asks about something said (it uses a speech word)."""
    return any(w in _SPEECH for w in _words(question))


def heard_cues(question: str, transcript: Transcript | None) -> list[Cue]:
    """The cues ``question`` asks for, in time order; empty when it is not about speech or none match."""
    if transcript is None or not transcript.cues or not about_speech(question):
        return []
    quoted = [a or b for a, b in _QUOTED.findall(question)]
    if quoted:
        phrases = [" ".join(_words(q)) for q in quoted]
        return [c for c in transcript.cues if any(p and p in " ".join(_words(c.text)) for p in phrases)]
    wanted = {_stem(w) for w in _words(question) if w not in _SPEECH and w not in _STOP}
    if not wanted:
        return []
    scores = [len(wanted & {_stem(w) for w in _words(c.text)}) for c in transcript.cues]
    best = max(scores)
    if best == 0 or 2 * best < len(wanted):
        return []
    return [c for c, s in zip(transcript.cues, scores, strict=True) if s == best]


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word

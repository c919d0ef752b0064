"""Start and end written as two separate instants: "... begins at X ... and ends at Y".

Models phrase a span this way in many forms ("The event starts at 37.0 seconds and ends at 44.5
seconds", "The man begins pouring at around 00:12, finishing at 00:18", "Starting at 3 s, he runs
until 9 s", "It stops at 9 s, having started at 3 s", "Start time: 00:21, end time: 00:49"). The
text is cut into clauses (at sentence ends, commas, semicolons and connectives such as "and",
"then", "before", "after"); a clause counts when it holds start words or end words (not both) and
one instant (a time; when several numbers are there, the one with a unit or clock, or introduced
by "at", "around", "until"...). A clause holding only a time ("At 3 s,") lends it to the
neighbouring clause that has the verb but no time.

A start clause pairs with the next clause that has a start or end word when that one ends the
same event:

- its subject (the words before its verb, beyond pronouns and words such as "the event") is empty
  or among the start clause's ("the man starts ... and the woman stops ..." is two events);
- the two verbs' activities agree when both are named ("starts running ... stops talking" is two);
- an end clause before its start pairs only when the start is introduced by "after", "since" or
  "having" ("ends at 9 s after starting at 3 s"; "the first part ends at 5 s and the second starts
  at 7 s" is two events).

One instant alone ("It starts at 37 seconds.") is no span. Linear in the text: every regex runs once
over it and each clause is read a bounded number of times.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from videoqa.core._times import TIME, scaled, unit_scale

__all__ = ["instant_pairs"]

_BREAK_RE = re.compile(
    r"\n|[.!?;,](?=\s|$|\")|[;,]|\b(?P<word>and|then|but|while|whilst|whereas|before|after|since|having|"
    r"although|though)\b",
    re.IGNORECASE,
)
_START_WORD = r"start(?:s|ed|ing)?|begin(?:s|ning)?|began|begun|commenc(?:e|es|ed|ing)"
_END_WORD = (
    r"end(?:s|ed|ing)?|stop(?:s|ped|ping)?|finish(?:es|ed|ing)?|conclud(?:e|es|ed|ing)|ceas(?:e|es|ed|ing)"
)
_UNTIL = r"until|till"
_ROLE_RE = re.compile(
    rf"\b(?:(?P<start>{_START_WORD})|(?P<end>{_END_WORD})|(?P<until>{_UNTIL}))(?:[_ ]?time)?\b", re.IGNORECASE
)
_INSTANT_RE = re.compile(
    rf"(?<![\w.:])(?P<t>{TIME})(?:\s*-?\s*(?P<u>s|secs?|seconds?|mins?|minutes?)\b\.?)?(?!\.?\d)(?!:\d)",
    re.IGNORECASE,
)
_INTRO_RE = re.compile(
    r"(?:\b(?:at|around|about|approximately|roughly|nearly|near|by|until|till|from|is|of)|[@=:])"
    r"\s*(?:the\s+)?(?:about\s+|around\s+|approximately\s+|roughly\s+)?[\"']?\s*$",
    re.IGNORECASE,
)
_WORD_RE = re.compile(r"[a-z]+")
_DIGIT_RE = re.compile(r"\d")
_FILLERS = frozenset(
    re.findall(
        r"\w+",
        "the a an this that these those it he she they him her them his its their there here event action "
        "activity moment segment part scene described said query then finally later eventually also again "
        "just subsequently afterwards at around about approximately roughly nearly near by on in of is was "
        "are were be been being has have had will would which who where when once so and but while s time "
        "mark point t i my answer clearly exactly precisely only",
    )
)
"""Words that name no particular actor: pronouns, articles, "the event", adverbs of time."""
_MAX_NUMBERS = 16
"""A clause holding more numbers than this states no single instant (and is not searched further)."""
_CONNECTORS_BEFORE_START = frozenset({"after", "since", "having"})


@dataclass(frozen=True)
class _Clause:
    role: str | None  # "start", "end" or None
    seconds: float | None  # the clause's one instant
    subject: frozenset[str]
    activity: str | None  # stem of the gerund/infinitive after the verb ("running" -> "run")
    connectors: frozenset[str]
    dangling: bool  # opens with its verb in -ing form ("Starting at 3 s, ...")


def instant_pairs(text: str) -> list[tuple[float, float]]:
    """(start, end) seconds, in text order, of each start instant paired with its event's end instant."""
    if not _ROLE_RE.search(text) or not _DIGIT_RE.search(text):
        return []
    clauses = _merge_lonely_instants(_clauses(text))
    roles = [c for c in clauses if c.role is not None]
    pairs: list[tuple[float, float]] = []
    i = 0
    while i + 1 < len(roles):
        first, second = roles[i], roles[i + 1]
        pair = _pair(first, second)
        if pair is None:
            i += 1
            continue
        pairs.append(pair)
        i += 2
    return pairs


def _pair(first: _Clause, second: _Clause) -> tuple[float, float] | None:
    if first.seconds is None or second.seconds is None or not _same_event(first, second):
        return None
    if first.role == "start" and second.role == "end":
        return first.seconds, second.seconds
    if first.role == "end" and second.role == "start" and second.connectors & _CONNECTORS_BEFORE_START:
        return second.seconds, first.seconds
    return None


def _merge_lonely_instants(clauses: list[_Clause]) -> list[_Clause]:
    """A clause holding only a time lends it to its neighbour with a verb but no time."""
    lonely = [c.role is None and c.seconds is not None and not c.subject for c in clauses]
    out = list(clauses)
    for k, clause in enumerate(clauses):
        if clause.role is None or clause.seconds is not None:
            continue
        for j in (k + 1, k - 1):
            if 0 <= j < len(clauses) and lonely[j]:
                lonely[j] = False
                out[k] = replace(clause, seconds=clauses[j].seconds)
                break
    return out


def _same_event(first: _Clause, second: _Clause) -> bool:
    if second.subject and not second.subject <= first.subject and not first.dangling:
        return False
    return first.activity is None or second.activity is None or first.activity == second.activity


def _clauses(text: str) -> list[_Clause]:
    clauses: list[_Clause] = []
    connectors: set[str] = set()
    position = 0
    for match in [*_BREAK_RE.finditer(text), None]:
        end = match.start() if match else len(text)
        piece = text[position:end]
        if piece.strip():
            clauses.extend(_read_clause(piece, frozenset(connectors)))
            connectors = set()
        if match is None:
            break
        if match.group("word"):
            connectors.add(match.group("word").lower())
        position = match.end()
    return clauses


def _read_clause(piece: str, connectors: frozenset[str]) -> list[_Clause]:
    """One clause, or several when it holds more than one start/end word ("Start: 3 s end: 9 s")."""
    roles = list(_ROLE_RE.finditer(piece))
    if not roles:  # only a clause holding a time can matter (it may lend it to its neighbour)
        return [_clause(piece, None, connectors)] if _DIGIT_RE.search(piece) else []
    cuts = [0] + [m.start() for m in roles[1:]] + [len(piece)]
    out = []
    for k, role in enumerate(roles):
        part = piece[cuts[k] : cuts[k + 1]]
        out.append(_clause(part, role, connectors if k == 0 else frozenset(), offset=cuts[k]))
    return out


def _clause(piece: str, role: re.Match[str] | None, connectors: frozenset[str], offset: int = 0) -> _Clause:
    instants = list(_INSTANT_RE.finditer(piece))
    seconds = _one_instant(piece, instants)
    plain = _INSTANT_RE.sub(lambda m: " " * len(m.group(0)), piece.lower())  # times are no subject words
    if role is None:  # its words tell whether it holds only a time ("At 3 s, ...")
        words = frozenset(w for w in _WORD_RE.findall(plain) if w not in _FILLERS)
        return _Clause(None, seconds, words, None, connectors, False)
    kind = "start" if role.group("start") else "end"
    verb_start, verb_end = role.start() - offset, role.end() - offset
    before = _WORD_RE.findall(plain[:verb_start])
    if role.group("until"):
        before = _until_subject(before)
    subject = frozenset(w for w in before if w not in _FILLERS)
    dangling = not subject and role.group(0).lower().endswith("ing") and not before
    return _Clause(kind, seconds, subject, _activity(plain[verb_end:]), connectors, dangling)


def _one_instant(piece: str, instants: list[re.Match[str]]) -> float | None:
    """The clause's time: the only number, or the only one written as a time (unit, clock, "at")."""
    if len(instants) > _MAX_NUMBERS:  # a list of numbers, not a sentence stating one instant
        return None
    timed = [
        m
        for m in instants
        if m.group("u") or ":" in m.group("t") or _INTRO_RE.search(piece, max(0, m.start() - 40), m.start())
    ]
    chosen = timed if timed else instants
    if len(chosen) != 1:
        return None
    match = chosen[0]
    return scaled(match.group("t"), unit_scale(match.group("u")) or 1.0)


def _until_subject(words: list[str]) -> list[str]:
    """Before "until" stands the verb too ("the man runs until"): keep the words before the first verb."""
    for k, word in enumerate(words):
        if word not in _FILLERS and (
            word.endswith("ing") or (word.endswith("s") and not word.endswith("ss"))
        ):
            return words[:k]
    return words


def _activity(after: str) -> str | None:
    words = _WORD_RE.findall(after[:60])
    if not words:
        return None
    word = words[1] if words[0] == "to" and len(words) > 1 else words[0]
    if words[0] != "to" and not (word.endswith("ing") and len(word) > 4):
        return None
    if word.endswith("ing") and len(word) > 5:
        word = word[:-3]
    return word[:3]

"""Subtitle files as text: SubRip (``.srt``), WebVTT (``.vtt``) and SubStation Alpha (``.ass``/``.ssa``).

Pure functions over a decoded string; every problem is a :class:`~videoqa.errors.SubtitleError`
naming the file and the 1-based line. Times come back as written in the file (seconds from the
file's zero); :mod:`videoqa.text._load` places them on the video's timeline.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from videoqa.errors import SubtitleError

__all__ = ["FORMATS", "clean_text", "decode_bytes", "format_srt", "parse_subtitles"]

FORMATS = {".srt": "srt", ".vtt": "vtt", ".ass": "ass", ".ssa": "ass"}
"""File suffix -> parser."""

_SRT_TIME = r"(\d+):([0-5]?\d):([0-5]?\d)[,.](\d{1,3})"
_SRT_LINE = re.compile(rf"^\s*{_SRT_TIME}\s*-->\s*{_SRT_TIME}")
_VTT_TIME = r"(?:(\d+):)?([0-5]\d):([0-5]\d)\.(\d{3})"
_VTT_LINE = re.compile(rf"^\s*{_VTT_TIME}\s+-->\s+{_VTT_TIME}(?:\s|$)")
_ASS_TIME = re.compile(r"^\s*(\d+):([0-5]?\d):([0-5]?\d)(?:[.,](\d{1,3}))?\s*$")
_TAG = re.compile(r"<[^>]*>|\{[^}]*\}")
_SPACE = re.compile(r"\s+")

Raw = tuple[float, float, str, int]
"""(start seconds, end seconds, text, line of the timing) as written in the file."""


def decode_bytes(data: bytes, *, name: str, encoding: str | None = None) -> str:
    """The text of a subtitle file: a byte-order mark wins, then ``encoding`` (default UTF-8).

    Bytes that are not valid in the encoding raise a SubtitleError naming the line and the byte.
    """
    for bom, codec in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            encoding = codec
            break
    codec = encoding or "utf-8"
    try:
        return data.decode(codec)
    except LookupError:
        raise SubtitleError(name, f"unknown text encoding {codec!r}; give a Python codec name") from None
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SubtitleError(
            name,
            f"byte 0x{data[exc.start]:02x} is not valid {codec}; convert the file to UTF-8 "
            f"(iconv -f cp1252 -t utf-8) or pass subtitles_encoding='cp1252' (or its real encoding)",
            line=line,
        ) from None


def clean_text(text: str) -> str:
    """Markup removed (``<i>``, ``{\\an8}``, ASS ``\\N``), lines joined by one space."""
    text = text.replace("\\N", " ").replace("\\n", " ").replace("\\h", " ")
    return _SPACE.sub(" ", _TAG.sub("", text)).strip()


def parse_subtitles(text: str, *, fmt: str, name: str) -> list[Raw]:
    """(start, end, text, line) of every non-empty cue of a file of format ``fmt`` (see FORMATS)."""
    parser = {"srt": _parse_srt, "vtt": _parse_vtt, "ass": _parse_ass}.get(fmt)
    if parser is None:
        raise SubtitleError(name, f"unknown subtitle format {fmt!r}; videoqa reads .srt, .vtt, .ass and .ssa")
    cues = []
    for start, end, words, line in parser(text.splitlines(), name):
        if end < start:
            raise SubtitleError(
                name, f"the cue ends ({end:.3f} s) before it starts ({start:.3f} s)", line=line
            )
        words = clean_text(words)
        if words:
            cues.append((start, end, words, line))
    return cues


def format_srt(cues: Iterable[tuple[float, float, str]]) -> str:
    """SubRip text of ``(start seconds, end seconds, text)`` cues, numbered from 1 (times to the ms;
    SubRip has no negative times, so a time before the file's zero is written as 0)."""

    def stamp(t: float) -> str:
        ms = round(max(0.0, t) * 1000)
        return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"

    return "\n".join(f"{k + 1}\n{stamp(a)} --> {stamp(b)}\n{text}\n" for k, (a, b, text) in enumerate(cues))


def _seconds(h: str | None, m: str, s: str, frac: str | None, *, digits: int | None = None) -> float:
    fraction = 0.0
    if frac:
        fraction = int(frac) / 10 ** (digits or len(frac))
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + fraction


def _blocks(lines: list[str]) -> Iterator[tuple[int, list[str]]]:
    """(1-based first line, lines) of each blank-line separated block."""
    block: list[str] = []
    first = 0
    for number, line in enumerate(lines, start=1):
        if line.strip():
            if not block:
                first = number
            block.append(line.rstrip())
        elif block:
            yield first, block
            block = []
    if block:
        yield first, block


def _parse_srt(lines: list[str], name: str) -> Iterator[Raw]:
    for first, block in _blocks(lines):
        offset = 1 if block[0].strip().isdigit() and len(block) > 1 else 0
        timing = block[offset]
        match = _SRT_LINE.match(timing)
        if match is None:
            raise SubtitleError(
                name,
                f"expected a SubRip timing 'HH:MM:SS,mmm --> HH:MM:SS,mmm', found {timing.strip()[:80]!r}",
                line=first + offset,
            )
        g = match.groups()
        start = _seconds(g[0], g[1], g[2], g[3].ljust(3, "0"))
        end = _seconds(g[4], g[5], g[6], g[7].ljust(3, "0"))
        yield start, end, " ".join(block[offset + 1 :]), first + offset


def _parse_vtt(lines: list[str], name: str) -> Iterator[Raw]:
    if not lines or not lines[0].lstrip("\ufeff").startswith("WEBVTT"):
        raise SubtitleError(name, "a WebVTT file starts with the line 'WEBVTT'", line=1)
    for first, block in _blocks(lines[1:]):
        first += 1
        head = block[0].strip()
        if (first == 2 or head.startswith(("NOTE", "STYLE", "REGION"))) and "-->" not in head:
            continue  # header lines after WEBVTT, comments, style and region blocks
        offset = 0 if "-->" in head else 1
        if offset >= len(block) or (match := _VTT_LINE.match(block[offset])) is None:
            bad = block[min(offset, len(block) - 1)].strip()
            raise SubtitleError(
                name,
                f"expected a WebVTT timing '[HH:]MM:SS.mmm --> [HH:]MM:SS.mmm', found {bad[:80]!r}",
                line=first + min(offset, len(block) - 1),
            )
        g = match.groups()
        yield _seconds(*g[:4]), _seconds(*g[4:]), " ".join(block[offset + 1 :]), first + offset


def _parse_ass(lines: list[str], name: str) -> Iterator[Raw]:
    section, fields = "", None
    for number, line in enumerate(lines, start=1):
        stripped = line.strip().lstrip("\ufeff")
        if stripped.startswith("[") and stripped.endswith("]"):
            section, fields = stripped.lower(), None
            continue
        if section != "[events]" or ":" not in stripped:
            continue
        key, value = stripped.split(":", 1)
        if key == "Format":
            fields = [f.strip().lower() for f in value.split(",")]
            if not {"start", "end", "text"} <= set(fields) or fields[-1] != "text":
                raise SubtitleError(name, "the [Events] Format needs Start, End and Text (last)", line=number)
        elif key == "Dialogue":
            if fields is None:
                raise SubtitleError(name, "a Dialogue line before the [Events] Format line", line=number)
            parts = value.split(",", len(fields) - 1)
            if len(parts) != len(fields):
                raise SubtitleError(name, f"expected {len(fields)} fields, found {len(parts)}", line=number)
            row = dict(zip(fields, parts, strict=True))
            yield (
                _ass_time(row["start"], name, number),
                _ass_time(row["end"], name, number),
                row["text"],
                number,
            )


def _ass_time(value: str, name: str, line: int) -> float:
    match = _ASS_TIME.match(value)
    if match is None:
        raise SubtitleError(
            name, f"expected an ASS time 'H:MM:SS.cc', found {value.strip()[:40]!r}", line=line
        )
    h, m, s, frac = match.groups()
    return _seconds(h, m, s, frac)

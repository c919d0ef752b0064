"""Inputs of a batch job: the videos of a bucket and the questions to ask of them.

Any fsspec filesystem works (local paths, ``file://``, ``s3://``, ``gs://``, ``memory://``).
A video is named twice: ``url``, the full path or URL a decoder opens, and ``video_id``, its
path relative to the bucket root, which question selectors match and output rows carry.
"""

from __future__ import annotations

import fnmatch
import io
import json
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import fsspec
from pydantic import ValidationError

from videoqa._remote import path_kind, reported_unreachable
from videoqa.analysis import Question

__all__ = [
    "QuestionSpec",
    "QuestionsFileError",
    "VideoRef",
    "list_videos",
    "match_questions",
    "read_questions",
]

_MANIFEST_ENDINGS = (".txt", ".csv", ".jsonl", ".parquet")
_GLOB_CHARS = "*?["
_ALL = ("", "*", "all", "**")


@dataclass(frozen=True)
class VideoRef:
    url: str
    """What decoders open: an absolute local path or a URL with its protocol (``s3://b/k.mp4``)."""
    video_id: str
    """Path relative to the bucket root (or as written in the manifest)."""


@dataclass(frozen=True)
class QuestionSpec:
    question: Question
    videos: str
    """Selector: one video id, a glob over video ids, or ``*`` / ``all`` / empty for every video."""

    def matches(self, video: VideoRef) -> bool:
        """True when the selector names ``video`` by id, id without extension or URL (or all videos)."""
        selector = self.videos.strip()
        if selector.lower() in _ALL:
            return True
        ids = _names(video)
        if _is_glob(selector):
            return any(fnmatch.fnmatchcase(i, selector) for i in ids)
        return selector in ids


def _names(video: VideoRef) -> set[str]:
    """What a selector may name a video by: its id, its id without extension, its URL."""
    return {video.video_id, posixpath.splitext(video.video_id)[0], video.url}


def _is_glob(text: str) -> bool:
    return any(c in text for c in _GLOB_CHARS)


def _fs(path: str, storage_options: dict[str, Any] | None) -> tuple[Any, str]:
    fs, root = fsspec.core.url_to_fs(path, **(storage_options or {}))
    return fs, root


def _url(fs: Any, path: str) -> str:
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    if protocol in ("file", "local"):
        return path
    return fs.unstrip_protocol(path)


def _is_video(path: str, extensions: Sequence[str]) -> bool:
    return not extensions or path.lower().endswith(tuple(extensions))


def list_videos(
    spec: str, *, storage_options: dict[str, Any] | None = None, extensions: Sequence[str] = ()
) -> list[VideoRef]:
    """The videos named by ``spec`` (folder, prefix, glob, single file or manifest), sorted by id.

    Raises:
        FileNotFoundError: nothing exists at ``spec``.
        SourceUnreachableError: the store did not answer (retried first).
        ValueError: ``spec`` names no video, or two entries share a video id.
    """
    with reported_unreachable(spec):
        return _list_videos(spec, storage_options, extensions)


def _list_videos(
    spec: str, storage_options: dict[str, Any] | None, extensions: Sequence[str]
) -> list[VideoRef]:
    fs, root = _fs(spec, storage_options)
    if _is_glob(root):
        base = root[: min(root.find(c) for c in _GLOB_CHARS if c in root)].rsplit("/", 1)[0]
        paths = [p for p in fs.glob(root) if fs.isfile(p) and _is_video(p, extensions)]
        refs = [VideoRef(_url(fs, p), posixpath.relpath(p, base)) for p in paths]
    elif (kind := path_kind(fs, root, name=spec)) == "file" and root.lower().endswith(_MANIFEST_ENDINGS):
        refs = _read_manifest(fs, root, storage_options)
    elif kind == "file":
        refs = [VideoRef(_url(fs, root), posixpath.basename(root))]
    elif kind == "directory":
        paths = [p for p in fs.find(root) if _is_video(p, extensions)]
        refs = [VideoRef(_url(fs, p), posixpath.relpath(p, root.rstrip("/"))) for p in paths]
    else:
        raise FileNotFoundError(
            f"--videos {spec!r}: nothing exists there; give a folder, prefix, glob or manifest."
        )
    if not refs:
        raise ValueError(
            f"--videos {spec!r} names no video (endings taken: {', '.join(extensions) or 'any'}); "
            "check the path, or pass video_extensions=() to take every file."
        )
    ids = [r.video_id for r in refs]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValueError(f"--videos {spec!r}: video ids must be unique, these repeat: {dupes[:5]}")
    return sorted(refs, key=lambda r: r.video_id)


def _read_manifest(fs: Any, path: str, storage_options: dict[str, Any] | None) -> list[VideoRef]:
    base = posixpath.dirname(path)
    if path.lower().endswith(".txt"):
        with fs.open(path, "rt", encoding="utf-8") as f:
            entries = [line.strip() for line in f if line.strip() and not line.lstrip().startswith("#")]
    else:
        rows = _read_rows(fs, path)
        if rows and "video" not in rows[0]:
            raise ValueError(f"manifest {path!r} needs a 'video' column; it has {sorted(rows[0])}")
        entries = [str(r["video"]) for r in rows if r.get("video")]
    refs = []
    for entry in entries:
        if "://" in entry or entry.startswith("/"):
            refs.append(VideoRef(entry, entry))
        else:
            refs.append(VideoRef(_url(fs, posixpath.join(base, entry)), entry))
    return refs


def _read_rows(fs: Any, path: str) -> list[dict[str, Any]]:
    """Rows of a JSONL, CSV (every column read as text) or Parquet file."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    with fs.open(path, "rb") as f:
        data = f.read()
    lower = path.lower()
    if lower.endswith((".jsonl", ".json")):
        return [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]
    if lower.endswith(".parquet"):
        return pq.read_table(io.BytesIO(data)).to_pylist()
    if lower.endswith(".csv"):
        # Every CSV column is text: ids like "007" must not become integers.
        names = pa_csv.read_csv(io.BytesIO(data)).column_names
        convert = pa_csv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()))
        return pa_csv.read_csv(io.BytesIO(data), convert_options=convert).to_pylist()
    raise ValueError(f"{path!r}: unsupported file type; use .jsonl, .csv or .parquet")


class QuestionsFileError(ValueError):
    """A questions file that cannot be read: names the file, the line (or row) and the problem."""

    def __init__(self, path: str, where: str | None, problem: str):
        self.path, self.where, self.problem = path, where, problem
        super().__init__(f"--questions {path}" + (f", {where}" if where else "") + f": {problem}")


def _decode_text(path: str, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise QuestionsFileError(
            path, f"line {line}", f"not UTF-8 text (byte {data[exc.start]:#04x}); save the file as UTF-8"
        ) from None


def _jsonl_rows(path: str, data: bytes) -> list[tuple[str, Any]]:
    rows = []
    for number, line in enumerate(_decode_text(path, data).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append((f"line {number}", json.loads(line)))
        except ValueError as exc:
            raise QuestionsFileError(path, f"line {number}", f"not valid JSON ({exc})") from None
    return rows


def _question_rows(fs: Any, path: str) -> list[tuple[str, Any]]:
    """(where, row) of a JSONL (file lines), CSV (file lines, header = line 1) or Parquet (rows) file."""
    import pyarrow as pa

    lower = path.lower()
    if lower.endswith((".jsonl", ".json")):
        with fs.open(path, "rb") as f:
            return _jsonl_rows(path, f.read())
    if lower.endswith(".csv"):
        with fs.open(path, "rb") as f:
            _decode_text(path, f.read())
    try:
        rows = _read_rows(fs, path)
    except (pa.ArrowException, OSError) as exc:
        raise QuestionsFileError(path, None, f"cannot be read as {lower.rsplit('.', 1)[-1]}: {exc}") from None
    first = 2 if lower.endswith(".csv") else 1
    unit = "line" if lower.endswith(".csv") else "row"
    return [(f"{unit} {k}", row) for k, row in enumerate(rows, start=first)]


def _options(value: Any, *, text_allowed: bool) -> list[str] | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        if not text_allowed:
            raise ValueError(f"options must be a list of option texts, not one string: got {value!r}")
        parsed = json.loads(value) if value.lstrip().startswith("[") else value.split("|")
        if not isinstance(parsed, list):
            raise ValueError(f"options must be a JSON list or 'A|B|C', got {value!r}")
        return [str(v) for v in parsed]
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"options must be a list of option texts, got {value!r}")
    return [str(v) for v in value]


def _question_spec(path: str, where: str, row: Any, *, csv: bool) -> QuestionSpec:
    if not isinstance(row, dict):
        raise QuestionsFileError(path, where, f"expected a JSON object per line, got {type(row).__name__}")
    row = dict(row)
    videos, video = row.pop("videos", None), row.pop("video", None)
    selector = videos or video or "*"
    fields = {k: v for k, v in row.items() if v is not None and v != ""}
    try:
        if "options" in fields:
            fields["options"] = _options(fields["options"], text_allowed=csv)
        if "question_id" in fields:
            fields["question_id"] = str(fields["question_id"])
        question = Question.model_validate(fields)
    except ValidationError as exc:
        raise QuestionsFileError(path, where, f"not a valid question: {exc}") from None
    except ValueError as exc:
        raise QuestionsFileError(path, where, str(exc)) from None
    return QuestionSpec(question=question, videos=str(selector))


def read_questions(path: str, *, storage_options: dict[str, Any] | None = None) -> list[QuestionSpec]:
    """The questions of a JSONL, CSV or Parquet file.

    Columns: ``question_id`` (unique), ``question``, optional ``task`` (qa, choice, grounding, events),
    ``options`` (a list; in CSV a JSON list string or ``A|B|C``), ``prompt``, and ``videos`` (one video
    id, a glob, or ``*`` / empty for all; ``video`` is accepted as an alias). A ``choice`` question
    without options is rejected here, before any video is read.

    Raises:
        QuestionsFileError: (a ValueError) the file cannot be read or a row is invalid; names the
            file, the line (JSONL, CSV) or row (Parquet) and the field; or ids repeat.
    """
    fs, root = _fs(path, storage_options)
    if path_kind(fs, root, name=path) != "file":
        raise FileNotFoundError(f"--questions {path!r} does not exist.")
    csv = root.lower().endswith(".csv")
    with reported_unreachable(path):
        specs = [_question_spec(path, where, row, csv=csv) for where, row in _question_rows(fs, root)]
    if not specs:
        raise QuestionsFileError(path, None, "holds no questions")
    ids = [s.question.question_id for s in specs]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise QuestionsFileError(path, None, f"question_id must be unique; these repeat: {dupes[:5]}")
    return specs


def match_questions(
    videos: Sequence[VideoRef], questions: Sequence[QuestionSpec]
) -> tuple[list[tuple[VideoRef, list[Question]]], list[str]]:
    """Pair each video with the questions whose selector matches it.

    Returns (video, questions) for videos with at least one question, and the ids of questions that
    matched no video (a likely typo in a selector; the caller warns).
    """
    # Exact selectors are looked up in a dict and only globs are matched per video, so a
    # benchmark-sized job (3,720 Charades-STA questions x 1,334 videos) stays linear; the result
    # is the same as asking QuestionSpec.matches of every (video, question) pair.
    everywhere: list[int] = []
    exact: dict[str, list[int]] = {}
    globs: list[int] = []
    for position, spec in enumerate(questions):
        selector = spec.videos.strip()
        if selector.lower() in _ALL:
            everywhere.append(position)
        elif _is_glob(selector):
            globs.append(position)
        else:
            exact.setdefault(selector, []).append(position)
    pairs = []
    used: set[str] = set()
    for video in videos:
        hits = set(everywhere) | {p for name in _names(video) for p in exact.get(name, ())}
        hits |= {p for p in globs if questions[p].matches(video)}
        qs = [questions[p].question for p in sorted(hits)]
        used.update(q.question_id for q in qs)
        if qs:
            pairs.append((video, qs))
    unmatched = [s.question.question_id for s in questions if s.question.question_id not in used]
    return pairs, unmatched

"""Offline demo: generate a small bucket of videos with known events, run the full Ray job on it.

Writes ``<output>/bucket/videos/*.mp4`` (real H.264 files with coloured squares shown over known
intervals) and ``<output>/bucket/questions.jsonl``, starts a local Ray, runs the same job as
``videoqa run`` (probe -> decode tasks -> model actor -> Parquet), then prints the summary, the
answers next to the true intervals, and where the Parquet tables are. No network is needed.

Models: ``builtin:tiny-grounder`` (default) is a tiny Qwen2.5-VL trained here on synthetic
coloured-square videos (``training/train_tiny_grounder.py``), shipped in the package and run
through the real transformers runner: it reads time through the MRoPE position IDs videoqa builds.
It is a demo model: it knows coloured squares, nothing else, and does not answer the choice
question. ``builtin:tiny-qwen2.5-vl`` is the same architecture with random weights (answers NOT
meaningful). ``builtin:scripted`` is a rule-based stand-in that reads the coloured squares from
the frames it is given. Each answer is printed next to the truth with its score (the IoU for
grounding), and the mean IoU.

Speech: ``meeting.mp4`` has a subtitle file next to it (``meeting.srt``, found by the job's
``subtitles="auto"``) and is asked "when does the speaker mention the budget?". Its answer comes
from the subtitles (grounding by what is said, :mod:`videoqa.core._heard_pass`): no frame shows it,
and a frames-only model (the tiny grounder) could not know it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

__all__ = ["DEMO_SPEECH_VIDEOS", "DEMO_VIDEOS", "add_arguments", "run", "write_demo_bucket"]

# name -> (duration_seconds, [(start, end, colour)]): the ground truth the demo prints.
DEMO_VIDEOS: dict[str, tuple[float, list[tuple[float, float, str]]]] = {
    "kitchen.mp4": (90.0, [(37.0, 44.5, "red"), (70.0, 75.0, "blue")]),
    "street.mp4": (60.0, [(12.0, 20.0, "green")]),
    "lab/bench.mp4": (120.0, [(5.0, 9.0, "blue"), (88.0, 101.0, "red")]),
}
# name -> (duration_seconds, its subtitles [(start, end, text)], written next to it as name.srt): no
# coloured square; what happens is only said.
DEMO_SPEECH_VIDEOS: dict[str, tuple[float, list[tuple[float, float, str]]]] = {
    "meeting.mp4": (
        80.0,
        [
            (4.0, 7.5, "Good morning everyone, let us begin."),
            (41.3, 44.6, "The budget for next year is approved."),
            (70.0, 72.5, "Thank you, we adjourn."),
        ],
    ),
}
SPEECH_QUESTIONS = {"budget": "budget"}
"""question_id -> the word whose cue is the truth."""
DEMO_QUESTIONS = [
    {"question_id": "red", "question": "a red square appears", "task": "grounding", "videos": "*"},
    {"question_id": "blue", "question": "a blue square appears", "task": "grounding", "videos": "*"},
    {
        "question_id": "colour",
        "question": "Which colour of square is shown?",
        "task": "choice",
        "options": ["red", "green", "blue"],
        "videos": "street.mp4",
    },
    {
        "question_id": "budget",
        "question": "When does the speaker mention the budget?",
        "task": "grounding",
        "videos": "meeting.mp4",
    },
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--output", default="videoqa-demo", help="Folder for the bucket and the tables.")
    parser.add_argument(
        "--model",
        default="builtin:tiny-grounder",
        help="builtin:tiny-grounder (default, trained on coloured squares), builtin:tiny-qwen2.5-vl "
        "(random weights), builtin:scripted, or a model id/path.",
    )
    parser.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray (default: all).")


def write_demo_bucket(root: Path) -> tuple[Path, Path]:
    """Write the demo videos (skipped when already there) and questions; returns (videos, questions)."""
    from videoqa.synthetic import Event, write_video_once
    from videoqa.text import format_srt

    videos = root / "videos"
    every = {**DEMO_VIDEOS, **{name: (d, []) for name, (d, _) in DEMO_SPEECH_VIDEOS.items()}}
    for name, (duration, events) in every.items():
        write_video_once(
            videos / name, duration_seconds=duration, fps=4, events=[Event(a, b, c) for a, b, c in events]
        )
    for name, (_, cues) in DEMO_SPEECH_VIDEOS.items():
        (videos / name).with_suffix(".srt").write_text(format_srt(cues), encoding="utf-8")
    questions = root / "questions.jsonl"
    questions.write_text("".join(json.dumps(q) + "\n" for q in DEMO_QUESTIONS), encoding="utf-8")
    return videos, questions


def _true_spans(video_id: str, question_id: str) -> list[tuple[float, float]]:
    """The true intervals of a grounding question: its colour's events, or the cue saying its word."""
    word = SPEECH_QUESTIONS.get(question_id)
    if word is not None:
        cues = DEMO_SPEECH_VIDEOS.get(video_id, (0.0, []))[1]
        return [(a, b) for a, b, text in cues if word in text.lower()]
    return [(a, b) for a, b, c in DEMO_VIDEOS.get(video_id, (0.0, []))[1] if c == question_id]


def _truth(video_id: str, question_id: str) -> str:
    if question_id == "colour":
        events = DEMO_VIDEOS[video_id][1]
        return "(" + "ABC"[["red", "green", "blue"].index(events[0][2])] + ") " + events[0][2]
    spans = [f"{a:g}-{b:g} s" for a, b in _true_spans(video_id, question_id)]
    return ", ".join(spans) or "does not occur"


def _score(row: dict[str, Any], span: tuple[float, float] | None) -> tuple[str, float | None]:
    """(what the table shows, IoU or None) of one answer against the demo's truth."""
    if row["task"] == "choice":
        truth = _truth(row["video_id"], row["question_id"])
        return ("right" if row["choice"] == truth[1] else "wrong"), None
    true_spans = _true_spans(row["video_id"], row["question_id"])
    if not true_spans:
        iou = 1.0 if row["outcome"] == "no_event" else 0.0
        return ("right" if iou else "wrong") + " (absent)", iou
    if span is None:
        return "IoU 0.00", 0.0
    (a, b), (s, e) = true_spans[0], span
    union = max(b, e) - min(a, s)
    iou = max(0.0, min(b, e) - max(a, s)) / union if union > 0 else 0.0
    return f"IoU {iou:.2f}", iou


def answers_report(output: str) -> list[str]:
    """Lines comparing each answer with the true intervals of the demo videos, with the IoU."""
    from videoqa.batch import read_tables

    tables = read_tables(output, tables=["answers", "spans", "subtitles"])
    first_span = {}
    for span in sorted(tables["spans"].to_pylist(), key=lambda r: -r["span_index"]):
        first_span[span["item_key"]] = (span["start_seconds"], span["end_seconds"])
    lines = [f"{'video':<16} {'question':<8} {'truth':<18} {'score':<16} answer"]
    ious = []
    for row in sorted(tables["answers"].to_pylist(), key=lambda r: (r["video_id"], r["question_id"])):
        answer = row["answer"].replace("\n", " ")[:60] or repr(row["raw_text"][:60])
        truth = _truth(row["video_id"], row["question_id"])
        score, iou = _score(row, first_span.get(row["item_key"]))
        if iou is not None:
            ious.append(iou)
        lines.append(f"{row['video_id']:<16} {row['question_id']:<8} {truth:<18} {score:<16} {answer}")
    lines += _speech_lines(tables["subtitles"].to_pylist())
    if ious:
        hits = sum(i >= 0.5 for i in ious)
        lines.append(
            f"grounding: mean IoU {sum(ious) / len(ious):.2f} over {len(ious)} questions, "
            f"{hits} with IoU >= 0.5 "
            "(a right 'does not occur' counts as 1)"
        )
    return lines


def _speech_lines(cues: list[dict[str, Any]]) -> list[str]:
    """For each speech question, the cue its answer came from (the ``subtitles`` table)."""
    lines = []
    for cue in sorted(cues, key=lambda c: (c["video_id"], c["question_id"], c["start_seconds"])):
        if cue["question_id"] in SPEECH_QUESTIONS:
            where = cue["source"].replace("\\", "/").rsplit("/", 1)[-1]
            lines.append(
                f"{cue['video_id']} {cue['question_id']}: from the subtitles ({cue['kind']} {where}): "
                f"{cue['start_seconds']:g}-{cue['end_seconds']:g} s {cue['text']!r}"
            )
    return lines


def run(args: argparse.Namespace) -> int:
    from videoqa.batch._config import JobConfig
    from videoqa.batch._job import run_job
    from videoqa.core.settings import starting_settings
    from videoqa.model.families import builtin_model

    root = Path(args.output).resolve()
    videos, questions = write_demo_bucket(root / "bucket")
    output = root / "output"
    found = builtin_model(args.model) if args.model.startswith("builtin:") else None
    note = (
        found[1].note
        if found is not None and found[1].note
        else f"{args.model} (a real model: answers are its own)"
    )
    print(
        f"videoqa demo: {len(DEMO_VIDEOS) + len(DEMO_SPEECH_VIDEOS)} generated videos in {videos}, "
        f"questions in {questions}"
    )
    print(f"model: {args.model}: {note}")
    settings = starting_settings(args.model, flags={"fps": 1.0, "max_new_tokens": 24})
    config = JobConfig(
        videos=str(videos),
        questions=str(questions),
        output=str(output),
        model=args.model,
        settings=settings,
        decode_workers=1,
        local_num_cpus=args.num_cpus,
        progress_interval_seconds=5.0,
    )
    summary = run_job(config)
    print()
    print(summary)
    print()
    print("\n".join(answers_report(str(output))))
    print()
    print(f"model: {args.model}: {note}")
    print(f"Parquet tables: {output}/answers, {output}/spans, {output}/windows, {output}/failures")
    print(f"read them with: python -c \"import pandas as pd; print(pd.read_parquet('{output}/answers'))\"")
    print(f"HTML timeline report: videoqa report {output}")
    return 0

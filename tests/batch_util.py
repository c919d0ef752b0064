"""Helpers of the batch-job tests: generated buckets, questions files, reading the four tables."""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

import pandas as pd

from videoqa.batch import read_tables
from videoqa.synthetic import Event, write_video_once

# name -> (duration_seconds, events); 4 fps, 160x90 H.264: real files, a few hundred ms to decode.
GOOD = {
    "a.mp4": (24.0, (Event(10.0, 14.0, "red"),)),
    "b.mp4": (16.0, (Event(3.0, 6.0, "blue"),)),
    "sub/c.mp4": (20.0, (Event(2.0, 5.0, "red"), Event(12.0, 15.0, "green"))),
}
QUESTIONS = [
    {"question_id": "red", "question": "a red square appears", "task": "grounding", "videos": "*"},
    {"question_id": "colours", "question": "Which colours are shown?", "task": "qa", "videos": "sub/*"},
    {"question_id": "pick", "question": "Which colour is shown?", "task": "choice",
     "options": ["green", "blue"], "videos": "b"},
]  # fmt: skip
# (video_id, question_id) pairs the questions above select from GOOD.
GOOD_ITEMS = {
    ("a.mp4", "red"),
    ("b.mp4", "red"),
    ("sub/c.mp4", "red"),
    ("sub/c.mp4", "colours"),
    ("b.mp4", "pick"),
}


def run_args(videos: object = "v", questions: object = "q", output: object = "o", *flags: str):
    """Parsed ``videoqa run`` arguments: ``--videos``, ``--questions``, ``--output`` and ``flags``."""
    from videoqa.batch._cli import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    argv = ["--videos", str(videos), "--questions", str(questions), "--output", str(output), *flags]
    return parser.parse_args(argv)


def write_good_videos(folder: Path, videos: dict | None = None, *, fps: float = 4.0) -> Path:
    """Write the GOOD videos (cached in tests/.media-cache/batch, copied into ``folder``)."""
    cache = Path(os.environ.get("VIDEOQA_TEST_MEDIA", Path(__file__).parent / ".media-cache")) / "batch-v1"
    for name, (duration, events) in (videos or GOOD).items():
        cached = cache / f"{fps:g}fps-{name.replace('/', '_')}"
        write_video_once(cached, duration_seconds=duration, fps=fps, events=events)
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cached, target)
    return folder


def write_questions(path: Path, questions: list[dict] | None = None) -> Path:
    path.write_text("".join(json.dumps(q) + "\n" for q in questions or QUESTIONS))
    return path


def tables(output: str, storage_options: dict | None = None) -> dict[str, pd.DataFrame]:
    names = ("answers", "spans", "windows", "failures")
    tables = read_tables(output, tables=names, storage_options=storage_options)
    return {t: table.to_pandas() for t, table in tables.items()}


def items(df: pd.DataFrame) -> list[tuple[str, str]]:
    return sorted(zip(df["video_id"], df["question_id"], strict=True))


def comparable(df: pd.DataFrame) -> pd.DataFrame:
    """A table without its run-dependent columns (wall times), sorted, for equality checks."""
    df = df.copy()
    if "timings_seconds_json" in df:
        df = df.drop(columns=["timings_seconds_json"])
        df["analysis_json"] = [
            json.dumps({**json.loads(a), "timings_seconds": {}}, sort_keys=True) for a in df["analysis_json"]
        ]
    keys = [c for c in ("item_key", "span_index", "step_index", "window_index") if c in df]
    return df.sort_values(keys).reset_index(drop=True)


def read_table(output: str, table: str):
    """One table through the one reader, read_tables."""
    return read_tables(output, tables=[table])[table]

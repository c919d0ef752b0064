"""LongVideoBench (multiple choice, 4 or 5 options, subtitles interleaved): accuracy per duration group.

Annotations (longvideobench/LongVideoBench ``lvb_val.json``, per its README): a JSON list, one
question per entry, ``{"id", "video_id", "video_path": "<id>.mp4", "question", "candidates": [...],
"correct_choice": <index>, "duration_group": 15 | 60 | 600 | 3600, "question_category", "level",
"topic_category", "subtitle_path", "starting_timestamp_for_subtitles", "duration", ...}``; fields
copies add (e.g. ``type``) are ignored. Videos: ``<videos>/<video_path>`` (any subfolder).

Metrics: accuracy overall and per duration group (the paper's 8-15 s, 15-60 s, 180-600 s and
900-3600 s groups, keyed 15/60/600/3600), with per-category accuracy in ``summary.json``.

Subtitles: ``--subtitles-dir DIR``, DIR holding LongVideoBench's ``subtitles/`` folder as released
(``<video_id>_en.json``, the record's ``subtitle_path``): a JSON list of ``{"timestamp": [start,
end], "text"}`` (an end that is not a number runs to the video's end) or ``{"start":
"HH:MM:SS.fff", "end", "line"}`` entries, timed on the source video, of which the released clip
starts at ``starting_timestamp_for_subtitles`` (the two shapes and the shift as lmms-eval's
``insert_subtitles_into_frames`` reads them). :func:`subtitles_for` reads it into cues on the clip's
clock (those wholly before it dropped); the batch job writes them into the video's prompts in the
model family's timed-text layout (Qwen3-VL: each line after the frames on screen when it starts,
LongVideoBench's interleaving; Qwen2.5-VL: one timed block).
Official output: ``longvideobench_test_for_submission.json``, the file of lmms-eval's
``longvideobench_test_*`` tasks for the leaderboard (``longvideobench_aggregate_results_for_submission``):
one JSON object ``{id: "<model text>"}`` (``""`` for a question not answered).

Prompts: ``native`` (the default: videoqa's choice prompt) and ``lmms_eval``, restated from
lmms-eval's ``longvideobench_val_v`` task (``longvideobench_doc_to_text`` with the YAML's empty
pre-prompt and its post-prompt, ``max_new_tokens`` 32, as of commit 75571cfe): the question, then one
line per candidate ``"A. <candidate>"``, then ``"Answer with the option's letter from the given choices
directly.\n"`` (the trailing newline is lmms-eval's).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from videoqa.analysis import Question
from videoqa.eval._choice import ChoiceQuestion, letters, score_groups
from videoqa.eval._common import AnnotationError, SetAside, read_json
from videoqa.eval._declare import Benchmark, Loaded, PageSpec

__all__ = ["BENCHMARK", "leaderboard_submission", "load_longvideobench", "subtitles_for"]

DURATION_GROUPS = ("15", "60", "600", "3600")


def _clock_seconds(text: str) -> float:
    hours, minutes, seconds = str(text).split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def subtitles_for(item: ChoiceQuestion, folder: str) -> Any:
    """The cues of ``<folder>/<subtitle_path>`` on the clip's clock (a Transcript), or None without a file."""
    import fsspec

    from videoqa.text import Cue, Transcript

    if not item.extra.get("subtitle_path"):
        return None
    path = f"{folder.rstrip('/')}/{item.extra['subtitle_path']}"
    fs, root = fsspec.core.url_to_fs(path)
    if not fs.isfile(root):
        return None
    entries = read_json(Path(root)) if "://" not in path else json.loads(fs.cat_file(root))
    offset, duration = float(item.extra.get("subtitle_offset") or 0.0), item.extra.get("duration")
    cues = []
    for k, e in enumerate(entries if isinstance(entries, list) else []):
        if "timestamp" in e:
            (start, end), text = e["timestamp"], e["text"]
            end = end if isinstance(end, (int, float)) else (duration or start) + offset
        elif {"start", "end", "line"} <= e.keys():
            start, end, text = _clock_seconds(e["start"]), _clock_seconds(e["end"]), e["line"]
        else:
            raise AnnotationError(
                Path(path), f"subtitle {k}: needs timestamp and text, or start, end and line"
            )
        start, end = float(start) - offset, float(end) - offset
        if end > 0 and str(text).strip():
            cues.append(
                Cue(max(0.0, start), max(0.0, end), " ".join(str(text).split()), "en", "sidecar:" + path)
            )
    return Transcript(cues=tuple(cues), kind="sidecar", source=path, language="en")


def _item(entry: Any) -> ChoiceQuestion | str:
    needed = {"id", "question", "candidates", "correct_choice", "duration_group"}
    if not isinstance(entry, dict) or not needed <= entry.keys():
        return f"needs {sorted(needed)}"
    options = tuple(str(c).strip() for c in entry["candidates"])
    choice = entry["correct_choice"]
    if not isinstance(choice, int) or not 0 <= choice < len(options) or len(options) < 2:
        return f"correct_choice {choice!r} does not index the {len(options)} candidates"
    video = str(entry.get("video_path") or f"{entry['video_id']}.mp4")
    return ChoiceQuestion(
        item_id=str(entry["id"]), video_id=video.rsplit(".", 1)[0], question=str(entry["question"]).strip(),
        options=options, right_letters=(letters(len(options))[choice],),
        groups={"duration_group": str(entry["duration_group"]),
                "question_category": str(entry.get("question_category", ""))},
        extra={"subtitle_path": entry.get("subtitle_path"), "duration": entry.get("duration"),
               "subtitle_offset": entry.get("starting_timestamp_for_subtitles")},
    )  # fmt: skip


def load_longvideobench(path: str | Path) -> tuple[list[ChoiceQuestion], list[SetAside]]:
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(path, "annotation file not found; pass lvb_val.json")
    data = read_json(path)
    if not isinstance(data, list):
        raise AnnotationError(path, "expected a JSON list of questions (lvb_val.json)")
    items, aside = [], []
    for index, entry in enumerate(data):
        made = _item(entry)
        if isinstance(made, str):
            aside.append(SetAside(str(path), None, made, record=f"question {index}").warn())
        else:
            items.append(made)
    if not items:
        raise AnnotationError(path, "no usable question found")
    return items, aside


LMMS_EVAL_POST_PROMPT = "Answer with the option's letter from the given choices directly.\n"


def _question(item: ChoiceQuestion, style: str) -> Question:
    prompt = None
    if style == "lmms_eval":
        lines = "\n".join(f"{letters(len(item.options))[k]}. {o}" for k, o in enumerate(item.options))
        prompt = f"{item.question}\n{lines}\n{LMMS_EVAL_POST_PROMPT}"
    return Question(
        question_id=item.item_id, question=item.question, task="choice", options=list(item.options),
        prompt=prompt,
    )  # fmt: skip


def leaderboard_submission(rows: Sequence[Mapping[str, Any]], summary: Any) -> dict[str, str]:
    """``longvideobench_test_for_submission.json``: ``{id: model text}``, as lmms-eval writes it."""
    entries = {r["question_id"]: r["prediction_text"] or "" for r in rows}
    text = json.dumps(entries, indent=1, ensure_ascii=False) + "\n"
    return {"longvideobench_test_for_submission.json": text}


def _load(config: Any) -> Loaded:
    items, aside = load_longvideobench(config.annotations)
    return Loaded(items, "lvb_val.json", set_aside=aside)


BENCHMARK = Benchmark(
    name="longvideobench",
    title="LongVideoBench (accuracy per duration group, seconds)",
    summary="Multiple choice with interleaved subtitles: accuracy per duration group (15/60/600/3600 s).",
    load=_load,
    question=_question,
    score=score_groups,
    columns=(*DURATION_GROUPS, "Overall"),
    count_key="num_questions",
    notes=lambda s: [
        f"Answers without an option letter (scored wrong): {s['num_without_letter']}.",
        f"Subtitles from {s['subtitles_dir']}: {s['num_videos_with_subtitles']} video(s) have a file."
        if s.get("subtitles_dir")
        else "Asked without subtitles (give --subtitles-dir to interleave them).",
    ],
    page=PageSpec(breakdowns=("duration_group", "question_category")),
    options=("subtitles_dir",),
    subtitles_for=subtitles_for,
    official_outputs=leaderboard_submission,
    prompt_styles=("native", "lmms_eval"),
    lmms_eval_max_new_tokens=32,
    annotation_help="lvb_val.json (a JSON list of questions).",
    pipeline_example=("--annotations data/lvb_val.json", "--videos s3://my-bucket/longvideobench/videos/"),
)

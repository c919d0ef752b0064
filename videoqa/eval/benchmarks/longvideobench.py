"""LongVideoBench (multiple choice, 4 or 5 options, subtitles interleaved): accuracy per duration group.

Annotations (longvideobench/LongVideoBench ``lvb_val.json``, per its README): a JSON list, one
question per entry, ``{"id", "video_id", "video_path": "<id>.mp4", "question", "candidates": [...],
"correct_choice": <index>, "duration_group": 15 | 60 | 600 | 3600, "question_category", "level",
"topic_category", "subtitle_path", "starting_timestamp_for_subtitles", "duration", ...}``; fields
copies add (e.g. ``type``) are ignored. Videos: ``<videos>/<video_path>`` (any subfolder).

Metrics: accuracy overall and per duration group (the paper's 8-15 s, 15-60 s, 180-600 s and
900-3600 s groups, keyed 15/60/600/3600), with per-category accuracy in ``summary.json``.

Subtitles: LongVideoBench interleaves each video's subtitles with its frames. They come from the
subtitle channel (``videoqa/text/``, another work item); :func:`subtitles_for` is the hook and
returns None today, so questions are asked without subtitles (the report says so).
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


def subtitles_for(item: ChoiceQuestion) -> str | None:
    """The subtitles to interleave for ``item`` (its ``subtitle_path``, from
    ``starting_timestamp_for_subtitles``); None until the subtitle channel (``videoqa/text/``)
    provides them."""
    return None


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
        extra={"subtitle_path": entry.get("subtitle_path")},
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
        "Asked without subtitles (the subtitle channel is not wired yet).",
    ],
    page=PageSpec(breakdowns=("duration_group", "question_category")),
    official_outputs=leaderboard_submission,
    prompt_styles=("native", "lmms_eval"),
    lmms_eval_max_new_tokens=32,
    annotation_help="lvb_val.json (a JSON list of questions).",
    pipeline_example=("--annotations data/lvb_val.json", "--videos s3://my-bucket/longvideobench/videos/"),
)

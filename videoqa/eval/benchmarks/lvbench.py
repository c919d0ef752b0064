"""LVBench (hour-long video QA, four options): accuracy overall and per capability.

Annotations: ``video_info.meta.jsonl`` from zai-org/LVBench (or lmms-eval's flat table), read by
:mod:`videoqa.eval._lvbench`. Videos: ``<videos>/<key>.mp4`` (YouTube ids).

Prompts: ``lmms_eval`` is lmms-eval's ``lvbench`` task: the annotated question string (stem and
``(A)``-``(D)`` lines) followed by ``"\\nAnswer the question with the option letter"`` (the YAML
post-prompt, no final period); ``native`` sends stem and options through
:func:`videoqa.core.prompts.choice_prompt`.
"""

from __future__ import annotations

import json
from typing import Any

from videoqa.analysis import Question
from videoqa.eval._declare import Benchmark, Loaded, PageSpec, PromptStyle
from videoqa.eval._lvbench import ChoiceItem, load_lvbench
from videoqa.eval._score import score_choice

__all__ = ["BENCHMARK", "LVBENCH_POST_PROMPT", "lvbench_question"]

LVBENCH_PRE_PROMPT = ""
LVBENCH_POST_PROMPT = "\nAnswer the question with the option letter"


def lvbench_question(item: ChoiceItem, *, style: PromptStyle = "lmms_eval") -> Question:
    """The multiple-choice :class:`~videoqa.Question` for one LVBench question.

    Both styles carry the stem as ``question`` (what a coarse search pass looks for) and the options,
    so the letter parser knows there are four; lmms-eval sends the annotated question string (stem
    and option lines) verbatim, native sends stem and options through
    :func:`videoqa.core.prompts.choice_prompt`.
    """
    from videoqa.eval._declare import PROMPT_STYLES, canonical_style

    style = canonical_style(style)  # type: ignore[assignment]
    if style not in PROMPT_STYLES:
        raise ValueError(f"prompt style must be one of {PROMPT_STYLES}, got {style!r}")
    prompt = f"{LVBENCH_PRE_PROMPT}{item.question}{LVBENCH_POST_PROMPT}" if style == "lmms_eval" else None
    return Question(
        question_id=item.question_id, question=item.stem, task="choice", options=list(item.options),
        prompt=prompt,
    )  # fmt: skip


def _load(config: Any) -> Loaded:
    bench = load_lvbench(config.annotations)
    return Loaded(bench.items, "video_info.meta.jsonl", set_aside=bench.set_aside)


def _score(items, predictions, prompts, config) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    return score_choice(items, predictions, prompts, scoring=config.scoring)


def official_answers(rows: Any, summary: Any) -> dict[str, str]:
    """``lvbench_answers.json``: ``{uid: letter}``, the input of LVBench's ``scripts/test_acc.py``; a
    question without a letter gets ``""`` (wrong there too, instead of silently dropped)."""
    answers = {str(r["question_id"]): r["pred_letter"] or "" for r in rows}
    return {"lvbench_answers.json": json.dumps(answers, indent=1) + "\n"}


def choice_notes(summary: Any) -> list[str]:
    notes = [f"Answers without an option letter (scored wrong): {summary['num_without_letter']}."]
    unparsed = summary.get("time_reference_unparsed") or []
    if unparsed:
        notes.append(
            f"time_reference not read as MM:SS-MM:SS for {len(unparsed)} question(s) "
            f"(kept as text in items.parquet), first: {unparsed[0]}."
        )
    return notes


def _time_reference(row: Any) -> list[tuple[float, float]]:
    """The annotated ``time_reference`` (where the answer is), when it was read into seconds."""
    start, end = row["time_reference_start_seconds"], row["time_reference_end_seconds"]
    return [] if start is None or end is None else [(start, end)]


def _columns(summary: Any) -> tuple[str, ...]:
    """The leaderboard's capabilities, then any other question type the file uses, then Overall."""
    known = ("ER", "EU", "KIR", "TG", "Rea", "Sum")
    others = [c for c in summary["all"].get("capability_counts", {}) if c not in known]
    return (*known, *others, "Overall")


BENCHMARK = Benchmark(
    name="lvbench",
    title="LVBench (accuracy)",
    summary="Hour-long video QA: accuracy overall and per capability (ER, EU, KIR, TG, Rea, Sum).",
    load=_load,
    question=lambda item, style: lvbench_question(item, style=style),
    score=_score,
    columns=("ER", "EU", "KIR", "TG", "Rea", "Sum", "Overall"),
    count_key="num_questions",
    table_columns=_columns,
    official_outputs=official_answers,
    notes=choice_notes,
    page=PageSpec(breakdowns=("capabilities", "video_type"), truth_spans=_time_reference),
    prompt_styles=("lmms_eval", "native"),
    lmms_eval_max_new_tokens=16,
    published={
        "Qwen2.5-VL-3B": {"Overall": 43.3},
        "Qwen2.5-VL-7B": {"Overall": 45.3},
        "Qwen2.5-VL-72B": {"Overall": 47.3},
        "Qwen3-VL-8B": {"Overall": 58.0},
    },
    published_sources={
        "Qwen3-VL-8B": "Qwen3-VL-8B-Instruct: LVBench 58.0 (huggingface.co/Qwen/Qwen3-VL-8B-Instruct, "
        "quoted in QwenLM/Qwen3-VL#2057 and #1772)",
    },
    default_source="Qwen2.5-VL technical report (arXiv 2502.13923), Table 8",
    annotation_help="video_info.meta.jsonl (one video per line, questions under 'qa') or the flat table.",
    pipeline_example=("--annotations data/video_info.meta.jsonl", "--videos s3://my-bucket/lvbench/videos/"),
)

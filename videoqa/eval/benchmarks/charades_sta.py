"""Charades-STA (temporal grounding): R@1 at IoU >= 0.3/0.5/0.7 and mIoU.

Annotations: the official TALL ``charades_sta_test.txt`` (``VID start end##sentence``) and the JSON
variants of :mod:`videoqa.eval._charades`; durations from ``Charades_v1_test.csv`` (``--durations``).
Videos: ``<videos>/<VID>.mp4`` (``Charades_v1_480/``).

Prompts: ``lmms_eval`` is lmms-eval's ``temporal_grounding_charades`` prompt, held once in
:func:`videoqa.core.prompts.grounding_prompt` (style ``lmms_eval``, typo "seonds" and the doubled
"." kept); ``native`` leaves the prompt to the session (the Qwen cookbook wording).

Official output: Charades-STA has no submission server; ``charades_sta_submission.json`` is the
de-facto file, lmms-eval's (``temporal_grounding_process_results_generation`` and
``eval_tvg.py`` of its ``charades_sta`` task): one JSON object ``{"<video>.mp4>>><caption>>>>[start,
end]": "<model text>"}``, the ground truth written as a Python list (``eval_tvg.py`` evaluates it),
the value the model's text, which ``eval_tvg.py`` reads the span from (``""`` when there is none:
a missing video or a failure). Two queries with the same video, sentence and times share one key
there, and so here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from videoqa.analysis import Question
from videoqa.eval._charades import GroundingItem, load_charades_sta, read_durations
from videoqa.eval._declare import Benchmark, Loaded, PageSpec, PromptStyle
from videoqa.eval._score import score_grounding

__all__ = ["BENCHMARK", "GROUNDING_PAGE", "charades_question", "lmms_eval_submission"]


def charades_question(item: GroundingItem, *, style: PromptStyle = "lmms_eval") -> Question:
    """The grounding :class:`~videoqa.Question` for one Charades-STA query."""
    from videoqa.core.prompts import grounding_prompt
    from videoqa.eval._declare import PROMPT_STYLES, canonical_style

    style = canonical_style(style)  # type: ignore[assignment]
    if style not in PROMPT_STYLES:
        raise ValueError(f"prompt style must be one of {PROMPT_STYLES}, got {style!r}")
    prompt = grounding_prompt(item.sentence, style="lmms_eval") if style == "lmms_eval" else None
    return Question(question_id=item.query_id, question=item.sentence, task="grounding", prompt=prompt)


def _load(config: Any) -> Loaded:
    durations = read_durations(config.durations) if config.durations else None
    bench = load_charades_sta(config.annotations, durations=durations)
    return Loaded(bench.items, bench.annotation_format, bench.comparable, bench.set_aside)


def _score(items, predictions, prompts, config) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    return score_grounding(
        items, predictions, prompts, clip_ground_truth=config.clip_ground_truth, scoring=config.scoring
    )


def grounding_notes(summary: Any) -> list[str]:
    """The notes of a grounding benchmark: the clipping choice, unparsed and no-event answers."""
    clipped = "yes" if summary["clip_ground_truth_to_duration"] else "no (as lmms-eval)"
    return [
        f"Ground truth clipped to the video duration: {clipped}.",
        f"Unparseable answers (scored IoU 0, kept in the denominator): {summary['num_unparsed']}; "
        f"answers saying the event does not occur (IoU 0): {summary.get('num_no_event', 0)}.",
    ]


def lmms_eval_submission(rows: Sequence[Mapping[str, Any]], summary: Any) -> dict[str, str]:
    """``charades_sta_submission.json``: lmms-eval's submission (the input of its ``eval_tvg.py``)."""
    entries = {
        f"{r['video_id']}.mp4>>>{r['sentence']}>>>{[r['gt_start_seconds'], r['gt_end_seconds']]}": (
            r["prediction_text"] or ""
        )
        for r in rows
    }
    return {"charades_sta_submission.json": json.dumps(entries, indent=1, ensure_ascii=False) + "\n"}


GROUNDING_PAGE = PageSpec(
    id_column="query_id",
    score_column="iou",
    score_label="mIoU",
    text_column="sentence",
    truth_spans=lambda row: [(row["gt_scored_start_seconds"], row["gt_scored_end_seconds"])],
    expected=lambda row: f"{row['gt_scored_start_seconds']:.1f}-{row['gt_scored_end_seconds']:.1f} s",
)
"""The results page of a grounding benchmark: items ranked by IoU, the scored ground truth drawn."""


BENCHMARK = Benchmark(
    name="charades-sta",
    title="Charades-STA (R@1, IoU >= m; mIoU)",
    summary="Temporal grounding: R@1 at IoU 0.3/0.5/0.7 and mIoU.",
    load=_load,
    question=lambda item, style: charades_question(item, style=style),
    score=_score,
    columns=("R@0.3", "R@0.5", "R@0.7", "mIoU"),
    count_key="num_queries",
    nouns=("query", "queries"),
    notes=grounding_notes,
    page=GROUNDING_PAGE,
    official_outputs=lmms_eval_submission,
    prompt_styles=("lmms_eval", "native"),
    lmms_eval_max_new_tokens=50,
    options=("durations", "clip_ground_truth"),
    published={
        "Qwen2.5-VL-3B": {"mIoU": 38.8},
        "Qwen2.5-VL-7B": {"mIoU": 43.6},
        "Qwen2.5-VL-72B": {"mIoU": 50.9},
        "Qwen3-VL-2B": {"R@0.5": 54.5},
        "Qwen3-VL-8B": {"mIoU": 56.0},
    },
    published_sources={
        "Qwen3-VL-2B": "Qwen3-VL-2B-Instruct R@0.5 as reported by Qwen, quoted in QwenLM/Qwen3-VL#1696",
        "Qwen3-VL-8B": (
            "Qwen3-VL-8B-Instruct: Charades-STA 56 (Qwen3-VL blog, quoted in QwenLM/Qwen3-VL#1718)"
        ),
    },
    default_source="Qwen2.5-VL technical report (arXiv 2502.13923), Table 8",
    annotation_help="charades_sta_test.txt (official TALL lines) or a JSON/JSONL/Parquet variant.",
    pipeline_example=(
        "--annotations data/charades_sta_test.txt --durations data/Charades_v1_test.csv",
        "--videos s3://my-bucket/charades/Charades_v1_480/",
    ),
)

"""QVHighlights moment retrieval: R1@0.5/0.7 and mAP@0.5/0.75/average over several ground-truth windows.

Annotations (jayleicn/moment_detr ``data/README.md``): JSONL, one query per line,
``{"qid", "query", "duration", "vid": "<youtube id>_<start>_<end>", "relevant_windows": [[s, e], ...],
"relevant_clip_ids", "saliency_scores"}``; the test split without labels has no ``relevant_windows``
(score it with ``highlight_test_with_gt.jsonl``, or submit ``submission.jsonl`` to the leaderboard).
Videos: ``<videos>/<vid>.mp4`` (the released 150-second clips).

Metrics, restated from ``standalone_eval/eval.py`` (moment_detr): the answer's spans are a ranked
list (first = most relevant, score ``1 / rank``, at most 10); **R1@m**: the top-1 span's IoU with the
ground-truth window it overlaps most is >= m; **mAP@m**: ActivityNet detection AP of the ranked list
against all windows of the query (each window matched once, VOC-interpolated), averaged over
queries; **mAP** averages mAP@0.5, 0.55, ..., 0.95. Unlike the official script, a query with no
span stays in the denominator (AP 0, R1 miss) rather than being dropped from the mAP mean.

Prompts: ``native`` (the default) asks for every matching moment, most relevant first;
``lmms_eval`` is lmms-eval's ``timelens_qvhighlights`` prompt (one span;
:func:`~videoqa.eval.benchmarks.activitynet_captions.timelens_prompt`, ``max_new_tokens`` 50), which
runs on TimeLens's re-annotation there, so its numbers are not comparable with TimeLens tables.

Official output: ``submission.jsonl``, one ``{"qid", "query", "vid", "pred_relevant_windows":
[[start, end, score], ...]}`` per query (the prediction format of ``standalone_eval/README.md``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from videoqa.analysis import Question
from videoqa.eval._common import AnnotationError, SetAside, ground_truth_problem, read_json_records
from videoqa.eval._declare import Benchmark, Loaded, PageSpec
from videoqa.eval._lmms_eval import lmms_eval_span
from videoqa.eval._metrics import ordered_span, temporal_iou

__all__ = ["BENCHMARK", "MomentItem", "average_precision", "load_qvhighlights"]

MAP_THRESHOLDS = tuple(round(0.5 + 0.05 * k, 2) for k in range(10))
MAX_PREDICTED_WINDOWS = 10


@dataclass(frozen=True)
class MomentItem:
    qid: int
    video_id: str
    query: str
    windows: tuple[tuple[float, float], ...]
    duration_seconds: float

    @property
    def item_id(self) -> str:
        return str(self.qid)


def load_qvhighlights(path: str | Path) -> tuple[list[MomentItem], list[SetAside]]:
    """``(items, set aside)``: a window that cannot be scored is dropped (its query kept if another
    window remains, else set aside), each with its line and why."""
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(path, "annotation file not found; pass highlight_val_release.jsonl")
    records, aside = read_json_records(path)
    items: list[MomentItem] = []
    for line, row in records:
        if not isinstance(row, dict) or not {"qid", "query", "vid", "duration"} <= row.keys():
            aside.append(SetAside(str(path), line, "needs qid, query, vid and duration").warn())
            continue
        if "relevant_windows" not in row:
            raise AnnotationError(
                path, "no relevant_windows: the test split without labels cannot be scored; use "
                "highlight_test_with_gt.jsonl, or submit the val/test submission files", line_number=line,
            )  # fmt: skip
        windows, where = [], f"qid {row['qid']}"
        for s, e in row["relevant_windows"]:
            problem = ground_truth_problem(float(s), float(e), duration_seconds=float(row["duration"]))
            if problem:
                aside.append(SetAside(str(path), line, f"window [{s}, {e}]: {problem}", record=where).warn())
            else:
                windows.append((float(s), float(e)))
        if windows:
            items.append(MomentItem(int(row["qid"]), str(row["vid"]), str(row["query"]).strip(),
                                    tuple(windows), float(row["duration"])))  # fmt: skip
    if not items:
        raise AnnotationError(path, "no query with a usable window found")
    return items, aside


def average_precision(
    ranked: Sequence[tuple[float, float]], windows: Sequence[tuple[float, float]], threshold: float
) -> float:
    """ActivityNet detection AP of ``ranked`` spans (best first) against ``windows`` at IoU >= threshold."""
    if not ranked or not windows:
        return 0.0
    taken = [False] * len(windows)
    hits = []
    for span in ranked:
        ious = sorted(((temporal_iou(span, w), k) for k, w in enumerate(windows)), reverse=True)
        hit = False
        for iou, k in ious:
            if iou < threshold:
                break
            if not taken[k]:
                taken[k] = hit = True
                break
        hits.append(hit)
    precisions, recalls, tp = [], [], 0
    for n, hit in enumerate(hits, start=1):
        tp += hit
        precisions.append(tp / n)
        recalls.append(tp / len(windows))
    # VOC interpolation: precision made monotone from the right, summed over recall steps
    envelope = [*precisions, 0.0]
    for i in range(len(envelope) - 2, -1, -1):
        envelope[i] = max(envelope[i], envelope[i + 1])
    ap, previous = 0.0, 0.0
    for recall, precision in zip(recalls, envelope, strict=False):
        if recall != previous:
            ap += (recall - previous) * precision
            previous = recall
    return ap


def _ranked(pred: Any, scoring: str) -> list[tuple[float, float]]:
    if pred.status != "ok":
        return []
    if scoring == "lmms_eval":
        span = lmms_eval_span(pred.raw_text or "")
        return [span] if span else []
    return [ordered_span(s) for s in pred.spans[:MAX_PREDICTED_WINDOWS]]


def _row(item: MomentItem, pred: Any, ranked: list[tuple[float, float]]) -> dict[str, Any]:
    best = max((temporal_iou(ranked[0], w) for w in item.windows), default=0.0) if ranked else 0.0
    aps = {m: average_precision(ranked, item.windows, m) for m in MAP_THRESHOLDS}
    return {
        "qid": item.qid, "video_id": item.video_id, "query": item.query,
        "gt_windows": [list(w) for w in item.windows], "pred_windows": [list(s) for s in ranked],
        "top1_iou": best, "ap@0.5": aps[0.5], "ap@0.75": aps[0.75], "ap": sum(aps.values()) / len(aps),
        "status": pred.status, "prediction_text": pred.raw_text, "error": pred.error,
    }  # fmt: skip


def _table(rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows)

    def mean(values: list[float]) -> float:
        return 100.0 * sum(values) / n if n else 0.0

    return {
        "R1@0.5": mean([r["top1_iou"] >= 0.5 for r in rows]),
        "R1@0.7": mean([r["top1_iou"] >= 0.7 for r in rows]),
        "mAP@0.5": mean([r["ap@0.5"] for r in rows]),
        "mAP@0.75": mean([r["ap@0.75"] for r in rows]),
        "mAP": mean([r["ap"] for r in rows]),
        "num_queries": n,
    }


def _score(items, predictions, prompts, config) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    rows = [_row(item, predictions[item.item_id], _ranked(predictions[item.item_id], config.scoring))
            for item in items]  # fmt: skip
    answerable = [r for r in rows if r["status"] != "missing_video"]
    return rows, {
        "all": _table(rows),
        "answerable": _table(answerable),
        "num_unparsed": sum(r["status"] == "ok" and not r["pred_windows"] for r in rows),
        "num_failed": sum(r["status"] == "failed" for r in rows),
        "scoring": config.scoring,
    }


def _question(item: MomentItem, style: str) -> Question:
    from videoqa.eval.benchmarks.activitynet_captions import timelens_prompt

    if style == "lmms_eval":
        return Question(question_id=item.item_id, question=item.query, task="grounding",
                        prompt=timelens_prompt(item.query))  # fmt: skip
    prompt = (
        f"Find every moment of the video that matches the query: '{item.query}'. Give the start and end "
        "time in seconds of each moment, most relevant first, one per line, as '<start time> - <end time> "
        "seconds'. If none matches, say that it does not occur."
    )
    return Question(question_id=item.item_id, question=item.query, task="grounding", prompt=prompt)


def _submission(rows: Sequence[dict[str, Any]], summary: Any) -> dict[str, str]:
    lines = []
    for r in rows:
        ranked = [[s, e, round(1.0 / rank, 6)] for rank, (s, e) in enumerate(r["pred_windows"], start=1)]
        entry = {"qid": r["qid"], "query": r["query"], "vid": r["video_id"], "pred_relevant_windows": ranked}
        lines.append(json.dumps(entry) + "\n")
    return {"submission.jsonl": "".join(lines)}


def _load(config: Any) -> Loaded:
    items, aside = load_qvhighlights(config.annotations)
    return Loaded(items, "moment_detr jsonl", set_aside=aside)


BENCHMARK = Benchmark(
    name="qvhighlights",
    title="QVHighlights moment retrieval (R1@m; mAP over ranked spans)",
    summary="Moment retrieval, several windows per query: R1@0.5/0.7, mAP@0.5/0.75 and mAP (0.5:0.95).",
    load=_load,
    question=_question,
    score=_score,
    columns=("R1@0.5", "R1@0.7", "mAP@0.5", "mAP@0.75", "mAP"),
    count_key="num_queries",
    nouns=("query", "queries"),
    notes=lambda s: [f"Queries with no span (AP 0, in the denominator): {s['num_unparsed']}."],
    page=PageSpec(
        id_column="qid",
        score_column="ap",
        score_label="mAP (AP averaged over IoU 0.5:0.95)",
        text_column="query",
        truth_spans=lambda row: [tuple(w) for w in row["gt_windows"]],
        expected=lambda row: ", ".join(f"{s:g}-{e:g} s" for s, e in row["gt_windows"]),
    ),
    prompt_styles=("native", "lmms_eval"),
    lmms_eval_max_new_tokens=50,
    official_outputs=_submission,
    annotation_help="highlight_val_release.jsonl (or highlight_test_with_gt.jsonl).",
    pipeline_example=(
        "--annotations data/highlight_val_release.jsonl",
        "--videos s3://my-bucket/qvhighlights/videos/",
    ),
)

"""ActivityNet Captions temporal grounding: R@1 at IoU >= 0.3/0.5/0.7 and mIoU, one row per sentence.

Annotations (format of ranjaykrishna's ActivityNet Captions release, as 2D-TAN and VSLNet ship it:
``val_1.json`` / ``val_2.json``): ``{"v_<youtube id>": {"duration": s, "timestamps": [[s, e], ...],
"sentences": [...]}}``, one sentence per timestamp, in seconds; sentences often start with spaces
(stripped). The query id is ``<video id>#<sentence index>``. Durations come from the file; a
sentence whose ground truth cannot be scored is set aside
(:func:`~videoqa.eval._common.ground_truth_problem`); an end past the duration is kept (134 in
val_1, 111 in val_2; ``--clip-ground-truth`` clips them).
Videos: ``<videos>/v_<youtube id>.mp4`` (the ActivityNet release's names). Videos run for minutes
with several sentences each: the batch job asks all of a video's sentences with one shared prefix.

Official output: ActivityNet Captions grounding has no submission server; the file written is the
dense-captioning submission of the dataset's own evaluation code (ranjaykrishna/densevid_eval,
``evaluate.py -s``): ``{"version": "VERSION 1.0", "results": {"v_<id>": [{"sentence": ..., "timestamp":
[start, end]}, ...]}, "external_data": {"used": ..., "details": ...}}``, one entry per annotated
sentence with the span the model grounded it to (``activitynet_captions_submission.json``); a
sentence without a predicted span has no entry (the format has no way to say "none").

Prompts: ``native`` (the default: videoqa's grounding prompt, the Qwen cookbook wording) and
``lmms_eval``, restated from lmms-eval's ``timelens_activitynet`` task (``tasks/timelens``:
``timelens_doc_to_text`` with the template's pre/post prompts, ``max_new_tokens`` 50, as of commit
75571cfe): ``"Please find the visual event described by the sentence '<sentence>', determining its
starting and ending times. The format should be: 'The event happens in <start time> - <end time>
seconds'."``. That task runs on TimeLens's refined re-annotation (``kcz358/timelens``), so the prompt
is lmms-eval's but numbers on ``val_1``/``val_2`` are not comparable with TimeLens tables.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from videoqa.analysis import Question
from videoqa.eval._charades import GroundingItem, set_aside_bad_times
from videoqa.eval._common import AnnotationError, read_json
from videoqa.eval._declare import Benchmark, Loaded
from videoqa.eval._score import score_grounding
from videoqa.eval.benchmarks.charades_sta import GROUNDING_PAGE, grounding_notes

__all__ = ["BENCHMARK", "densevid_submission", "load_activitynet_captions", "timelens_prompt"]


def load_activitynet_captions(path: str | Path) -> tuple[list[GroundingItem], list[Any]]:
    """``(items, set aside)`` of an ActivityNet Captions file, in file order."""
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(path, "annotation file not found; pass val_1.json or val_2.json")
    data = read_json(path)
    if not isinstance(data, dict):
        raise AnnotationError(path, "expected {video_id: {duration, timestamps, sentences}}")
    items: list[GroundingItem] = []
    for vid, entry in data.items():
        missing = {"duration", "timestamps", "sentences"} - set(entry if isinstance(entry, dict) else ())
        if missing:
            raise AnnotationError(path, f"video {vid}: lacks {sorted(missing)}")
        spans, sentences = entry["timestamps"], entry["sentences"]
        if len(spans) != len(sentences):
            raise AnnotationError(
                path, f"video {vid}: {len(spans)} timestamps but {len(sentences)} sentences"
            )
        for index, (span, sentence) in enumerate(zip(spans, sentences, strict=True)):
            if not isinstance(span, (list, tuple)) or len(span) != 2:
                raise AnnotationError(
                    path, f"video {vid}, sentence {index}: timestamp {span!r} is not [s, e]"
                )
            items.append(
                GroundingItem(
                    query_id=f"{vid}#{index}", video_id=str(vid), sentence=str(sentence).strip(),
                    start_seconds=float(span[0]), end_seconds=float(span[1]),
                    duration_seconds=float(entry["duration"]),
                )
            )  # fmt: skip
    if not items:
        raise AnnotationError(path, "no sentences found")
    return set_aside_bad_times(items, path, {})


def _load(config: Any) -> Loaded:
    items, aside = load_activitynet_captions(config.annotations)
    return Loaded(items, "activitynet_captions", set_aside=aside)


TIMELENS_PRE_PROMPT = "Please find the visual event described by the sentence '"
TIMELENS_POST_PROMPT = (
    "', determining its starting and ending times. "
    "The format should be: 'The event happens in <start time> - <end time> seconds'."
)


def timelens_prompt(sentence: str) -> str:
    """lmms-eval's ``timelens_*`` grounding prompt of one query (ActivityNet Captions, QVHighlights)."""
    return f"{TIMELENS_PRE_PROMPT}{sentence}{TIMELENS_POST_PROMPT}"


def _question(item: GroundingItem, style: str) -> Question:
    prompt = timelens_prompt(item.sentence) if style == "lmms_eval" else None
    return Question(question_id=item.query_id, question=item.sentence, task="grounding", prompt=prompt)


def _score(items, predictions, prompts, config) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    return score_grounding(
        items, predictions, prompts, clip_ground_truth=config.clip_ground_truth, scoring=config.scoring
    )


def densevid_submission(rows: Sequence[Mapping[str, Any]], summary: Any) -> dict[str, str]:
    """``activitynet_captions_submission.json`` in densevid_eval's submission format."""
    results: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if r["pred_start_seconds"] is not None:
            span = [r["pred_start_seconds"], r["pred_end_seconds"]]
            results.setdefault(r["video_id"], []).append({"sentence": r["sentence"], "timestamp": span})
    details = f"videoqa eval activitynet-captions, model {summary['model']}, one span per annotated sentence"
    submission = {"version": "VERSION 1.0", "results": results,
                  "external_data": {"used": True, "details": details}}  # fmt: skip
    text = json.dumps(submission, indent=1, ensure_ascii=False) + "\n"
    return {"activitynet_captions_submission.json": text}


BENCHMARK = Benchmark(
    name="activitynet-captions",
    title="ActivityNet Captions grounding (R@1, IoU >= m; mIoU)",
    summary="Grounding on minutes-long videos, many sentences each: R@1 at IoU 0.3/0.5/0.7 and mIoU.",
    load=_load,
    question=_question,
    score=_score,
    columns=("R@0.3", "R@0.5", "R@0.7", "mIoU"),
    count_key="num_queries",
    nouns=("sentence", "sentences"),
    notes=grounding_notes,
    page=GROUNDING_PAGE,
    official_outputs=densevid_submission,
    prompt_styles=("native", "lmms_eval"),
    lmms_eval_max_new_tokens=50,
    options=("clip_ground_truth",),
    annotation_help="val_1.json or val_2.json ({v_id: {duration, timestamps, sentences}}).",
    pipeline_example=("--annotations data/val_1.json", "--videos s3://my-bucket/activitynet/videos/"),
)

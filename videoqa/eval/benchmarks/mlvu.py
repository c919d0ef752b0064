"""MLVU (multi-task long video understanding), its seven multiple-choice tasks: accuracy per task and M-Avg.

Annotations (JUNJIE99/MLVU ``MLVU/json``, the dev set): one JSON list per task, ``1_plotQA.json`` ...
``9_summary.json``; each entry ``{"video": "count_126.mp4", "duration": s, "question", "candidates":
[...], "answer": <the correct candidate's text>, "question_type"}``. ``--annotations`` takes the
folder (every task file in it) or one task file. The generation tasks (``8_sub_scene``,
``9_summary``: no candidates) are not multiple choice and are skipped with a note. Videos:
``<videos>/<name>.mp4`` in any subfolder (MLVU ships ``video/<task>/``).

Quirks of the real files, handled here: an answer that is not among its candidates (2 in
``2_needle``) or a question whose candidates are all empty (1 in ``7_topic_reasoning``) cannot be
scored and is set aside; a candidate listed twice (e.g. ``['Blue', 'Red', 'White', 'Blue']``)
is kept, and every letter whose text equals the answer counts as right; spaces around candidates
are stripped.

Official output: ``mlvu_submission.json``, the file MLVU's online evaluation takes (JUNJIE99/MLVU
``Evaluation_Test/README.md`` and ``test_bench.py``): a JSON list ``[{"question_id", "question_type",
"option": <letter>}, ...]``; the test set's ``question_id`` is kept (the dev set has none: its id here
is ``<question_type>_<index>``), a question without a letter gets ``""``.

Metrics: accuracy per task (the paper's TR, AR, NQA, ER, PQA, AO, AC), **M-Avg** = the mean of the
seven task accuracies (the paper's headline number), and Overall = over all questions.
Prompts: ``native`` (the default; restated from MLVU's multiple-choice evaluation): ``Question:
<q>\\nOptions:\\n(A) ..\\n...Only give the best option.``; ``lmms_eval``, restated from lmms-eval's
``mlvu_dev`` task (``mlvu_doc_to_text`` with the YAML's default post-prompt, ``max_new_tokens`` 16, as
of commit 75571cfe): the question field of its copy of the data followed by ``"\\nOnly give the best
option.\\nBest option: ("``. That copy (``sy1998/MLVU_dev``) holds the question with its options
already in it; their layout is not in lmms-eval's code and is taken here as MLVU's own template
(``<q>\\n(A) <c0>\\n(B) <c1>...``, ``Evaluation_Test/test_bench.py``'s ``qa_template``), not checked
against that copy.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from videoqa.analysis import Question
from videoqa.eval._choice import choice_letter, letters
from videoqa.eval._common import AnnotationError, SetAside, read_json
from videoqa.eval._declare import Benchmark, Loaded, PageSpec
from videoqa.eval._metrics import choice_scores

__all__ = ["BENCHMARK", "TASKS", "MLVUItem", "load_mlvu", "mlvu_submission"]

TASKS: dict[str, str] = {
    "topic_reasoning": "TR", "anomaly_reco": "AR", "findNeedle": "NQA", "ego": "ER",
    "plotQA": "PQA", "order": "AO", "count": "AC",
}  # fmt: skip
"""``question_type`` of the multiple-choice tasks -> the paper's abbreviations, in the paper's order."""


@dataclass(frozen=True)
class MLVUItem:
    item_id: str
    video_id: str
    task: str
    """The paper's abbreviation (``TR``, ``NQA`` ...)."""
    question_type: str
    """As annotated (``plotQA``, ``findNeedle`` ...)."""
    question: str
    options: tuple[str, ...]
    answer: str
    """The correct option's text, as annotated (stripped)."""

    @property
    def right_letters(self) -> tuple[str, ...]:
        """Every letter whose option is the answer (two when a candidate is listed twice)."""
        return tuple(string.ascii_uppercase[k] for k, o in enumerate(self.options) if o == self.answer)


def _task_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(path.glob("*.json"))
        if not files:
            raise AnnotationError(path, "no task files (*.json) in this folder; pass MLVU/json")
        return files
    if not path.is_file():
        raise AnnotationError(path, "not found; pass the MLVU/json folder or one task file")
    return [path]


def _item(entry: Any, index: int, path: Path) -> MLVUItem | str:
    """The item of one entry, or why it is set aside."""
    if not isinstance(entry, dict) or not {"video", "question", "candidates", "answer"} <= entry.keys():
        return "needs video, question, candidates and answer"
    options = tuple(str(c).strip() for c in entry["candidates"])
    answer = str(entry["answer"]).strip()
    if not any(options):
        return "every candidate is empty"
    if answer not in options:
        return f"answer {answer!r} is not among the candidates {list(options)}"
    qtype = str(entry.get("question_type", ""))
    video = str(entry["video"])
    return MLVUItem(
        item_id=str(entry.get("question_id") or f"{qtype}_{index}"), video_id=video.rsplit(".", 1)[0],
        task=TASKS.get(qtype, qtype), question_type=qtype,
        question=str(entry["question"]).strip(), options=options, answer=answer,
    )  # fmt: skip


def load_mlvu(path: str | Path) -> tuple[list[MLVUItem], list[SetAside]]:
    """``(items, set aside)`` of the multiple-choice task files under ``path`` (a folder or one file)."""
    items: list[MLVUItem] = []
    aside: list[SetAside] = []
    for file in _task_files(Path(path)):
        data = read_json(file)
        if not isinstance(data, list):
            raise AnnotationError(file, "expected a JSON list of questions")
        if data and isinstance(data[0], dict) and "candidates" not in data[0]:
            reason = f"not multiple choice (no candidates): {len(data)} generation questions skipped"
            aside.append(SetAside(str(file), None, reason).warn())
            continue
        for index, entry in enumerate(data):
            made = _item(entry, index, file)
            if isinstance(made, str):
                aside.append(SetAside(str(file), None, made, record=f"question {index}").warn())
            else:
                items.append(made)
    if not items:
        raise AnnotationError(path, "no multiple-choice question found")
    return items, aside


LMMS_EVAL_POST_PROMPT = "\nOnly give the best option.\nBest option: ("


def _question(item: MLVUItem, style: str) -> Question:
    lines = "".join(f"({string.ascii_uppercase[k]}) {o}\n" for k, o in enumerate(item.options))
    if style == "lmms_eval":
        prompt = f"{item.question}\n{lines.rstrip()}{LMMS_EVAL_POST_PROMPT}"
    else:
        prompt = f"Question: {item.question}\nOptions:\n{lines}Only give the best option."
    return Question(
        question_id=item.item_id,
        question=item.question,
        task="choice",
        options=list(item.options),
        prompt=prompt,
    )


def _score(items, predictions, prompts, config) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    rows, everything, answerable = [], [], []
    for item in items:
        pred = predictions[item.item_id]
        letter = choice_letter(pred, letters(len(item.options)), config.scoring)
        correct = letter in item.right_letters
        everything.append((correct, (item.task,)))
        if pred.status != "missing_video":
            answerable.append((correct, (item.task,)))
        rows.append({
            "question_id": item.item_id, "video_id": item.video_id, "task": item.task,
            "question_type": item.question_type,
            "question": item.question, "options": list(item.options), "answer": item.answer,
            "pred_letter": letter, "correct": correct, "status": pred.status,
            "prediction_text": pred.raw_text, "prompt": prompts[item.item_id], "error": pred.error,
        })  # fmt: skip

    def table(results):
        scores = choice_scores(results, capability_order=tuple(TASKS.values())).as_dict()
        per_task = [scores[t] for t in TASKS.values() if scores.get(t) is not None]
        return {**scores, "M-Avg": sum(per_task) / len(per_task) if per_task else None}

    return rows, {
        "all": table(everything),
        "answerable": table(answerable),
        "num_without_letter": sum(r["status"] == "ok" and r["pred_letter"] is None for r in rows),
        "num_failed": sum(r["status"] == "failed" for r in rows),
        "scoring": config.scoring,
    }


def mlvu_submission(rows: Sequence[Mapping[str, Any]], summary: Any) -> dict[str, str]:
    """``mlvu_submission.json``: MLVU's online-evaluation input, one entry per question."""
    entries = [
        {
            "question_id": r["question_id"],
            "question_type": r["question_type"],
            "option": r["pred_letter"] or "",
        }
        for r in rows
    ]
    return {"mlvu_submission.json": json.dumps(entries, indent=1, ensure_ascii=False) + "\n"}


def _load(config: Any) -> Loaded:
    items, aside = load_mlvu(config.annotations)
    return Loaded(items, "MLVU json", set_aside=aside)


BENCHMARK = Benchmark(
    name="mlvu",
    title="MLVU multiple choice (accuracy per task; M-Avg)",
    summary="Long-video multiple choice, seven tasks: accuracy per task (TR AR NQA ER PQA AO AC) and M-Avg.",
    load=_load,
    question=_question,
    score=_score,
    columns=(*TASKS.values(), "M-Avg"),
    count_key="num_questions",
    notes=lambda s: [f"Answers without an option letter (scored wrong): {s['num_without_letter']}."],
    page=PageSpec(breakdowns=("task",)),
    official_outputs=mlvu_submission,
    prompt_styles=("native", "lmms_eval"),
    lmms_eval_max_new_tokens=16,
    annotation_help="The MLVU/json folder (1_plotQA.json ... 7_topic_reasoning.json) or one task file.",
    pipeline_example=("--annotations data/MLVU/json", "--videos s3://my-bucket/mlvu/video/"),
)

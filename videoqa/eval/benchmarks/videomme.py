"""Video-MME (multiple choice): accuracy overall, per duration (short/medium/long), domain and task type.

Annotations, two published shapes (BradyFU/Video-MME): the results/template JSON
(``output_test_template.json``: a list of videos ``{"video_id", "duration", "domain",
"sub_category", "questions": [{"question_id", "task_type", "question", "options": ["A. ...", ...],
"answer", "response"}]}``; the official file has trailing commas, accepted here) and the flat table of
the dataset card (one question per row with ``videoID``, ``question_id``, ``duration``, ``domain``,
``sub_category``, ``task_type``, ``question``, ``options``, ``answer``; ``.json``/``.jsonl``/``.parquet``).
Videos: ``<videos>/<videoID>.mp4`` (the YouTube id; the template has no ``videoID``, so its
``video_id`` such as ``001`` names the file).

Prompts: ``lmms_eval`` restates lmms-eval's ``videomme`` task (``utils.videomme_doc_to_text`` with
the ``videomme.yaml`` default post-prompt): ``"Select the best answer to the following
multiple-choice question based on the video and the subtitles. Respond with only the letter (A, B,
C, or D) of the correct option.\\n" + question + "\\n" + option lines + "\\n" + "\\nAnswer the
question with A, B, C, or D."`` (the text mentions subtitles even without them, as lmms-eval's
does), ``max_new_tokens`` 16; ``native`` is videoqa's choice prompt.

Subtitles: the "with subtitles" setting is ``--subtitles-dir DIR``, DIR holding Video-MME's
``subtitle/`` folder as released (``<videoID>.srt``, SubRip, one per video that has speech):
:func:`subtitles_for` names each video's file, the batch job reads it with
:func:`videoqa.text.load_cues` and writes its cues into the video's prompts in the model family's
timed-text layout (Qwen2.5-VL: one block of ``[start - end seconds] words`` lines before the
question). A video without a file is asked without text (Video-MME's protocol: some have none).

Official output: ``videomme_results.json``, the template's shape with each question's ``response``
(the input of Video-MME's ``eval_your_results.py``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from videoqa.analysis import Question
from videoqa.eval._choice import ChoiceQuestion, letters, score_groups
from videoqa.eval._common import AnnotationError, iter_lines
from videoqa.eval._declare import Benchmark, Loaded, PageSpec

__all__ = ["BENCHMARK", "load_videomme", "subtitles_for"]

_OPTION = re.compile(r"^\s*([A-Z])[.)]\s*(.*)$", re.S)
_TRAILING_COMMA = re.compile(r",(\s*[\]}])")
LMMS_EVAL_INSTRUCTION = (
    "Select the best answer to the following multiple-choice question based on the video and the subtitles. "
    "Respond with only the letter (A, B, C, or D) of the correct option."
)
LMMS_EVAL_POST_PROMPT = "\nAnswer the question with A, B, C, or D."


def subtitles_for(item: ChoiceQuestion, folder: str) -> str | None:
    """``<folder>/<videoID>.srt`` (Video-MME's ``subtitle/`` layout) when it exists, else None."""
    import fsspec

    path = f"{folder.rstrip('/')}/{item.video_id}.srt"
    fs, root = fsspec.core.url_to_fs(path)
    return path if fs.isfile(root) else None


def _rows(path: Path) -> list[dict[str, Any]]:
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    text = "\n".join(iter_lines(path))  # a byte that is not UTF-8 names its line
    if path.suffix.lower() == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    try:
        data = json.loads(_TRAILING_COMMA.sub(r"\1", text))  # the official template has trailing commas
    except json.JSONDecodeError as exc:
        raise AnnotationError(path, f"invalid JSON: {exc.msg}", line_number=exc.lineno) from None
    if not isinstance(data, list):
        raise AnnotationError(path, "expected a list of videos (the template) or of questions (the table)")
    if data and isinstance(data[0], dict) and "questions" in data[0]:
        keep = ("video_id", "videoID", "duration", "domain", "sub_category")
        return [{**{k: v[k] for k in keep if k in v}, **q} for v in data for q in v["questions"]]
    return data


def _item(row: dict[str, Any], path: Path) -> ChoiceQuestion:
    where = f"question {row.get('question_id')}"
    found = [_OPTION.match(str(o)) for o in row.get("options", [])]
    if len(found) != 4 or not all(found) or tuple(m.group(1) for m in found) != tuple("ABCD"):
        raise AnnotationError(
            path, f"{where}: options must be 'A. ..' to 'D. ..', got {row.get('options')!r}"
        )
    answer = str(row.get("answer", "")).strip().strip("()").rstrip(".").upper()
    if answer not in "ABCD" or not answer:
        raise AnnotationError(path, f"{where}: answer must be A-D, got {row.get('answer')!r}")
    groups = {"duration": str(row.get("duration", "")), "domain": str(row.get("domain", "")),
              "task_type": str(row.get("task_type", ""))}  # fmt: skip
    return ChoiceQuestion(
        item_id=str(row["question_id"]), video_id=str(row.get("videoID") or row["video_id"]),
        question=str(row["question"]).strip(), options=tuple(m.group(2).strip() for m in found),
        right_letters=(answer,), groups=groups,
        extra={"option_lines": list(row["options"]), "video_id": str(row.get("video_id", "")),
               "sub_category": str(row.get("sub_category", ""))},
    )  # fmt: skip


def load_videomme(path: str | Path) -> list[ChoiceQuestion]:
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(path, "annotation file not found; pass Video-MME's test table or results JSON")
    items = [_item(row, path) for row in _rows(path)]
    if not items:
        raise AnnotationError(path, "no questions found")
    return items


def _question(item: ChoiceQuestion, style: str) -> Question:
    prompt = None
    if style == "lmms_eval":
        lines = "\n".join(item.extra["option_lines"])
        prompt = f"{LMMS_EVAL_INSTRUCTION}\n{item.question}\n{lines}\n{LMMS_EVAL_POST_PROMPT}"
    return Question(
        question_id=item.item_id,
        question=item.question,
        task="choice",
        options=list(item.options),
        prompt=prompt,
    )


def _results_json(rows: Any, summary: Any) -> dict[str, str]:
    """The template's shape, one entry per video, each question with the model's ``response``."""
    videos: dict[str, dict[str, Any]] = {}
    for r in rows:
        entry = videos.setdefault(r["video_id"], {"video_id": r["video_id"], "duration": r["duration"],
                                                  "domain": r["domain"], "questions": []})  # fmt: skip
        letter = r["pred_letter"]
        entry["questions"].append({
            "question_id": r["question_id"], "task_type": r["task_type"], "question": r["question"],
            "options": [f"{letters(4)[k]}. {o}" for k, o in enumerate(r["options"])], "answer": r["answer"],
            "response": letter or (r["prediction_text"] or ""),
        })  # fmt: skip
    return {"videomme_results.json": json.dumps(list(videos.values()), indent=1, ensure_ascii=False) + "\n"}


def _subtitles_note(summary: Any) -> str:
    """ "With subtitles" (how many videos had a file) or "without subtitles" (the shared note)."""
    if not summary.get("subtitles_dir"):
        return "Without subtitles (give --subtitles-dir for the 'with subtitles' setting)."
    return (
        f"With subtitles from {summary['subtitles_dir']}: {summary['num_videos_with_subtitles']} of "
        f"{summary['num_videos'] - summary['num_missing_videos']} videos found have a subtitle file."
    )


def _load(config: Any) -> Loaded:
    return Loaded(load_videomme(config.annotations), "Video-MME")


BENCHMARK = Benchmark(
    name="videomme",
    title="Video-MME (accuracy; short / medium / long)",
    summary="Multiple choice on videos of 11 s to 1 h: accuracy overall, per duration, domain and task.",
    load=_load,
    question=_question,
    score=score_groups,
    columns=("short", "medium", "long", "Overall"),
    count_key="num_questions",
    notes=lambda s: [
        f"Answers without an option letter (scored wrong): {s['num_without_letter']}.",
        _subtitles_note(s),
        "Per-domain and per-task accuracy in summary.json (all.breakdowns).",
    ],
    page=PageSpec(breakdowns=("duration", "domain", "task_type")),
    prompt_styles=("lmms_eval", "native"),
    lmms_eval_max_new_tokens=16,
    options=("subtitles_dir",),
    subtitles_for=subtitles_for,
    official_outputs=_results_json,
    annotation_help="Video-MME's test table (.parquet/.json/.jsonl) or the results-template JSON.",
    pipeline_example=("--annotations data/videomme/test.parquet", "--videos s3://my-bucket/videomme/data/"),
)

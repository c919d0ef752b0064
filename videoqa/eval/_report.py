"""Write an evaluation's results: ``items.parquet``, ``summary.json`` and ``results.md``.

The Markdown table shows this run twice — over *all* items of the evaluated set (missing videos,
failures and unparseable answers score 0) and over the *answerable subset* (items whose video was
found) — next to the published Qwen2.5-VL (technical report, Table 8) and Qwen3-VL numbers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["PUBLISHED", "markdown_table", "write_report"]

PUBLISHED: dict[str, dict[str, dict[str, float]]] = {
    "charades-sta": {
        "Qwen2.5-VL-3B": {"mIoU": 38.8},
        "Qwen2.5-VL-7B": {"mIoU": 43.6},
        "Qwen2.5-VL-72B": {"mIoU": 50.9},
        "Qwen3-VL-2B": {"R@0.5": 54.5},
        "Qwen3-VL-8B": {"mIoU": 56.0},
    },
    "lvbench": {
        "Qwen2.5-VL-3B": {"Overall": 43.3},
        "Qwen2.5-VL-7B": {"Overall": 45.3},
        "Qwen2.5-VL-72B": {"Overall": 47.3},
        "Qwen3-VL-8B": {"Overall": 58.0},
    },
}
"""Published numbers in percent: Qwen2.5-VL from its technical report (Table 8); Qwen3-VL as its
model card and blog state them, quoted in the issues named by :data:`PUBLISHED_SOURCES` (the
primary pages were not readable here)."""

PUBLISHED_SOURCE = "Qwen2.5-VL technical report (arXiv 2502.13923), Table 8"
PUBLISHED_SOURCES: dict[str, str] = {
    "Qwen3-VL-2B": "Qwen3-VL-2B-Instruct R@0.5 as reported by Qwen, quoted in QwenLM/Qwen3-VL#1696",
    "Qwen3-VL-8B": (
        "Qwen3-VL-8B-Instruct: Charades-STA 56 (Qwen3-VL blog, quoted in QwenLM/Qwen3-VL#1718), "
        "LVBench 58.0 (huggingface.co/Qwen/Qwen3-VL-8B-Instruct, quoted in QwenLM/Qwen3-VL#2057 and #1772)"
    ),
}
"""Sources of the rows not from :data:`PUBLISHED_SOURCE`."""

COLUMNS: dict[str, tuple[str, ...]] = {
    "charades-sta": ("R@0.3", "R@0.5", "R@0.7", "mIoU"),
    "lvbench": ("ER", "EU", "KIR", "TG", "Rea", "Sum", "Overall"),
}


def _cell(value: Any) -> str:
    return "–" if value is None else f"{float(value):.1f}"


def _items(count: int, benchmark: str) -> str:
    """``"3 queries"``, ``"1 query"``, ``"2 questions"``..."""
    noun = ("query", "queries") if benchmark == "charades-sta" else ("question", "questions")
    return f"{count} {noun[count != 1]}"


def _count_key(benchmark: str) -> str:
    return "num_queries" if benchmark == "charades-sta" else "num_questions"


def markdown_table(summary: dict[str, Any]) -> str:
    """The results table of a ``summary.json`` dict, with the published numbers and the caveats under it."""
    bench = summary["benchmark"]
    columns = COLUMNS[bench]
    lines = [
        f"## {summary['title']}",
        "",
        "| Model | " + " | ".join(columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    runs = [("all", f"all {_items(summary['all'][_count_key(bench)], bench)}")]
    if summary["num_missing_videos"]:
        runs.append(
            ("answerable", f"answerable subset, {_items(summary['answerable'][_count_key(bench)], bench)}")
        )
    for key, label in runs:
        scores = summary[key]
        cells = " | ".join(_cell(scores.get(c)) for c in columns)
        lines.append(f"| {summary['model']} (this run, {label}) | {cells} |")
    for name, scores in PUBLISHED[bench].items():
        lines.append(f"| {name} (published) | " + " | ".join(_cell(scores.get(c)) for c in columns) + " |")
    lines += ["", *(f"- {note}" for note in _notes(summary)), ""]
    return "\n".join(lines)


def _notes(summary: dict[str, Any]) -> list[str]:
    bench = summary["benchmark"]
    n_all = summary["all"][_count_key(bench)]
    notes = [f"Published: Qwen2.5-VL from the {PUBLISHED_SOURCE}; '–' = not reported."]
    notes += [f"{name}: {PUBLISHED_SOURCES[name]}." for name in PUBLISHED[bench] if name in PUBLISHED_SOURCES]
    if summary.get("limit") is not None:
        notes.append(
            f"--limit {summary['limit']}: a quick subset of {_items(n_all, bench)}, not the full benchmark."
        )
    if summary["num_missing_videos"]:
        notes.append(
            f"{summary['num_missing_videos']} video(s) missing "
            f"({_items(summary['num_items_missing_video'], bench)}): they score 0 in 'all' "
            "and are left out of the answerable subset; listed in summary.json."
        )
    else:
        notes.append(f"All videos found: every item ({_items(n_all, bench)}) is answerable.")
    if bench == "charades-sta":
        clipped = "yes" if summary["clip_ground_truth_to_duration"] else "no (as lmms-eval)"
        notes.append(f"Ground truth clipped to the video duration: {clipped}.")
        notes.append(
            f"Unparseable answers (scored IoU 0, kept in the denominator): {summary['num_unparsed']}; "
            f"answers saying the event does not occur (IoU 0): {summary.get('num_no_event', 0)}."
        )
    else:
        notes.append(f"Answers without an option letter (scored wrong): {summary['num_without_letter']}.")
    if summary["num_failed"]:
        notes.append(
            f"Items that failed in the batch job (scored 0): {summary['num_failed']}; see items.parquet."
        )
    if not summary.get("comparable", True):
        notes.append(
            "This annotation set is a re-annotation: its numbers are NOT comparable with published ones."
        )
    scoring = summary.get("scoring", "native")
    reader = "as lmms-eval reads them" if scoring == "lmms-eval" else "by videoqa's parser"
    notes.append(
        f"Prompt: {summary['prompt_style']}; scoring: {scoring} (answers read {reader}); "
        f"strategy: {summary['strategy']}; {summary['sampling_note']}."
    )
    return notes


def write_report(
    output: str | Path,
    rows: Sequence[dict[str, Any]],
    summary: dict[str, Any],
    *,
    storage_options: dict[str, Any] | None = None,
) -> dict[str, str]:
    """Write ``items.parquet`` (one row per item), ``summary.json`` and ``results.md`` under ``output``.

    ``output`` is a folder or any fsspec URL (``s3://bucket/eval/``). Returns {name: path written}.
    """
    import fsspec
    import pyarrow as pa
    import pyarrow.parquet as pq

    fs, root = fsspec.core.url_to_fs(str(output), **(storage_options or {}))
    fs.makedirs(root, exist_ok=True)
    root = root.rstrip("/")
    paths = {
        "items": f"{root}/items.parquet",
        "summary": f"{root}/summary.json",
        "table": f"{root}/results.md",
    }
    with fs.open(paths["items"], "wb") as f:
        pq.write_table(pa.Table.from_pylist(list(rows)), f)
    summary = {
        **summary,
        "published": PUBLISHED[summary["benchmark"]],
        "published_source": PUBLISHED_SOURCE,
        "published_sources": {
            n: s for n, s in PUBLISHED_SOURCES.items() if n in PUBLISHED[summary["benchmark"]]
        },
    }
    with fs.open(paths["summary"], "w", encoding="utf-8") as f:
        f.write(json.dumps(summary, indent=2) + "\n")
    with fs.open(paths["table"], "w", encoding="utf-8") as f:
        f.write(markdown_table(summary))
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    if protocol not in ("file", "local"):
        paths = {k: fs.unstrip_protocol(v) for k, v in paths.items()}
    return paths

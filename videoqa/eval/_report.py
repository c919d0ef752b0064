"""Write an evaluation's results: ``items.parquet``, ``summary.json`` and ``results.md``.

The Markdown table shows this run twice — over *all* items of the evaluated set (missing videos,
failures and unparseable answers score 0) and over the *answerable subset* (items whose video was
found) — next to the published numbers the benchmark's declaration lists, in its columns.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from videoqa.eval._declare import all_benchmarks, canonical_style, get_benchmark

__all__ = ["markdown_table", "published", "result_notes", "results_rows", "write_report"]

log = logging.getLogger(__name__)


def published() -> dict[str, dict[str, dict[str, float]]]:
    """Published numbers in percent of every declared benchmark: ``{benchmark: {model: {column: value}}}``."""
    return {b.name: {m: dict(v) for m, v in b.published.items()} for b in all_benchmarks()}


def _cell(value: Any) -> str:
    return "–" if value is None else f"{float(value):.1f}"


def results_rows(summary: dict[str, Any]) -> tuple[tuple[str, ...], list[tuple[str, list[Any]]]]:
    """``(columns, [(row label, [value per column]), ...])`` of the results table of a ``summary.json``:
    this run over all items (and over the answerable subset when videos are missing), then the
    published rows; a value is None where there is none. The Markdown table and the results page
    both show these."""
    bench = get_benchmark(summary["benchmark"])
    columns = bench.table_columns(summary) if bench.table_columns else bench.columns
    runs = [("all", f"all {bench.count_text(summary['all'][bench.count_key])}")]
    if summary["num_missing_videos"]:
        answerable = bench.count_text(summary["answerable"][bench.count_key])
        runs.append(("answerable", f"answerable subset, {answerable}"))
    rows = [(f"{summary['model']} (this run, {label})", [summary[key].get(c) for c in columns])
            for key, label in runs]  # fmt: skip
    rows += [
        (f"{name} (published)", [scores.get(c) for c in columns]) for name, scores in bench.published.items()
    ]
    return tuple(columns), rows


def markdown_table(summary: dict[str, Any]) -> str:
    """The results table of a ``summary.json`` dict, with the published numbers and the caveats under it."""
    columns, rows = results_rows(summary)
    lines = [
        f"## {summary['title']}",
        "",
        "| Model | " + " | ".join(columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    lines += [f"| {label} | " + " | ".join(_cell(v) for v in values) + " |" for label, values in rows]
    lines += ["", *(f"- {note}" for note in result_notes(summary)), ""]
    return "\n".join(lines)


def result_notes(summary: dict[str, Any]) -> list[str]:
    """The caveats under the results table (published sources, limit, set-aside lines, missing videos...)."""
    bench = get_benchmark(summary["benchmark"])
    n_all = summary["all"][bench.count_key]
    notes = []
    if bench.published:
        notes.append(f"Published: Qwen2.5-VL from the {bench.default_source}; '–' = not reported.")
    notes += [f"{name}: {source}." for name, source in bench.published_sources.items()]
    if summary.get("limit") is not None:
        notes.append(
            f"--limit {summary['limit']}: a quick subset of {bench.count_text(n_all)}, "
            "not the full benchmark."
        )
    if summary.get("num_set_aside"):
        first = summary["set_aside"][0]
        notes.append(
            f"{summary['num_set_aside']} annotation line(s) set aside (not scored, in no denominator; "
            f"listed in summary.json), first: {first}"
        )
    if summary["num_missing_videos"]:
        notes.append(
            f"{summary['num_missing_videos']} video(s) missing "
            f"({bench.count_text(summary['num_items_missing_video'])}): they score 0 in 'all' "
            "and are left out of the answerable subset; listed in summary.json."
        )
    else:
        notes.append(f"All videos found: every item ({bench.count_text(n_all)}) is answerable.")
    notes += bench.notes(summary)
    if summary["num_failed"]:
        notes.append(
            f"Items that failed in the batch job (scored 0): {summary['num_failed']}; see items.parquet."
        )
    if not summary.get("comparable", True):
        notes.append(
            "This annotation set is a re-annotation: its numbers are NOT comparable with published ones."
        )
    scoring = canonical_style(summary.get("scoring", "native"))
    reader = "as lmms-eval reads them" if scoring == "lmms_eval" else "by videoqa's parser"
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

    Each is written twice: named for the scoring mode (``summary.native.json``,
    ``summary.lmms_eval.json``...), which re-scoring in the other mode never touches, and under the
    plain name, which holds the latest run (a log line says when it replaces the other mode's).
    ``output`` is a folder or any fsspec URL (``s3://bucket/eval/``). Returns {name: path written}.
    """
    import fsspec

    fs, root = fsspec.core.url_to_fs(str(output), **(storage_options or {}))
    fs.makedirs(root, exist_ok=True)
    root = root.rstrip("/")
    mode = canonical_style(summary.get("scoring", "native"))
    paths = {
        "items": f"{root}/items.parquet",
        "summary": f"{root}/summary.json",
        "table": f"{root}/results.md",
        f"items.{mode}": f"{root}/items.{mode}.parquet",
        f"summary.{mode}": f"{root}/summary.{mode}.json",
        f"table.{mode}": f"{root}/results.{mode}.md",
    }
    _note_replaced_mode(fs, paths["summary"], mode)
    summary = _with_published(summary)
    for suffix in ("", f".{mode}"):
        _write_files(fs, {k: paths[k + suffix] for k in ("items", "summary", "table")}, rows, summary)
    official = get_benchmark(summary["benchmark"]).official_outputs
    for name, text in (official(rows, summary) if official else {}).items():
        stem, dot, ext = name.rpartition(".")
        for key, file_name in ((name, name), (f"{stem}.{mode}.{ext}", f"{stem}.{mode}{dot}{ext}")):
            paths[key] = f"{root}/{file_name}"
            with fs.open(paths[key], "w", encoding="utf-8") as f:
                f.write(text)
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    if protocol not in ("file", "local"):
        paths = {k: fs.unstrip_protocol(v) for k, v in paths.items()}
    return paths


def _note_replaced_mode(fs: Any, summary_path: str, mode: str) -> None:
    if not fs.exists(summary_path):
        return
    with fs.open(summary_path, "r", encoding="utf-8") as f:
        previous = canonical_style(json.loads(f.read()).get("scoring", "native"))
    if previous != mode:
        log.info(
            "summary.json now holds the %s scoring; the %s scoring stays in summary.%s.json",
            mode,
            previous,
            previous,
        )


def _write_files(
    fs: Any, paths: dict[str, str], rows: Sequence[dict[str, Any]], summary: dict[str, Any]
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with fs.open(paths["items"], "wb") as f:
        pq.write_table(pa.Table.from_pylist(list(rows)), f)
    with fs.open(paths["summary"], "w", encoding="utf-8") as f:
        f.write(json.dumps(summary, indent=2) + "\n")
    with fs.open(paths["table"], "w", encoding="utf-8") as f:
        f.write(markdown_table(summary))


def _with_published(summary: dict[str, Any]) -> dict[str, Any]:
    bench = get_benchmark(summary["benchmark"])
    return {
        **summary,
        "published": {m: dict(v) for m, v in bench.published.items()},
        "published_source": bench.default_source,
        "published_sources": dict(bench.published_sources),
    }

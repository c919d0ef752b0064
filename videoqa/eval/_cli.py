"""Evaluate a model on a declared benchmark (``videoqa eval --help`` lists them, from their declarations).

    videoqa eval charades-sta --annotations charades_sta_test.txt --videos Charades_v1_480/ \\
        --durations Charades_v1_test.csv --model Qwen/Qwen2.5-VL-7B-Instruct --output out/charades-7b
    videoqa eval lvbench --annotations video_info.meta.jsonl --videos lvbench/videos/ \\
        --model Qwen/Qwen2.5-VL-7B-Instruct --output out/lvbench-7b

Runs through the Ray batch job (local Ray by default, ``--address auto`` to join a cluster), then
writes items.parquet, summary.json and results.md under --output and prints the results table.
The batch-job flags are ``videoqa run``'s (generated from JobConfig).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from videoqa.eval._declare import OPTIONS, SCORINGS, Benchmark, all_benchmarks, canonical_style
from videoqa.model.families import DEFAULT_MODEL

__all__ = ["add_arguments", "config_from_args", "main", "run"]

_JOB_SKIP = ("videos", "questions", "output", "model", "settings", "storage_options", "video_extensions",
             "subtitle_map")  # fmt: skip
"""JobConfig fields without a job flag here: the evaluation sets them, or they have their own flag."""


def _add_common(p: argparse.ArgumentParser, benchmark: Benchmark) -> None:
    from videoqa.batch._config import JobConfig
    from videoqa.core._flags import add_model_flags, add_settings_flags
    from videoqa.eval._run import eval_settings

    data = p.add_argument_group("data")
    data.add_argument("--annotations", required=True, help=benchmark.annotation_help)
    videos = data.add_mutually_exclusive_group(required=True)
    videos.add_argument(
        "--videos", help="Folder or bucket prefix holding <id>.mp4 per video (searched in subfolders too; "
        ".mp4 .mkv .webm .mov .avi in any case)."
    )  # fmt: skip
    videos.add_argument(
        "--video-map", metavar="FILE",
        help="CSV (id,path) or JSON {id: path} naming each video's file (relative to the map's folder).",
    )  # fmt: skip
    data.add_argument("--video-suffix", help="Only this file ending, e.g. .mp4 (default: any of the above).")
    if "durations" in benchmark.options:
        data.add_argument("--durations", help=OPTIONS["durations"])
    if "clip_ground_truth" in benchmark.options:
        data.add_argument(
            "--clip-ground-truth", action="store_true",
            help="Clip ground-truth spans to [0, duration] before scoring (off by default, as lmms-eval).",
        )  # fmt: skip
    if "subtitles_dir" in benchmark.options:
        data.add_argument("--subtitles-dir", metavar="DIR", help=OPTIONS["subtitles_dir"])
    data.add_argument("--limit", type=int, help="Evaluate only the first N items (a quick subset).")
    data.add_argument("--output", required=True, help="Folder or bucket prefix for the results.")
    data.add_argument(
        "--quiet", action="store_true", help="No progress bar (it shows only on a terminal anyway)."
    )

    model = p.add_argument_group("model and prompt")
    model.add_argument("--model", default=DEFAULT_MODEL, help="HF id, local path or builtin:*.")
    model.add_argument(
        "--prompt", type=canonical_style, choices=benchmark.prompt_styles, default=benchmark.prompt_styles[0],
        help="lmms_eval: lmms-eval's prompts (comparable with published tables); native: the benchmark's "
        "or videoqa's own. 'lmms-eval' is accepted for lmms_eval.",
    )  # fmt: skip
    model.add_argument(
        "--scoring", type=canonical_style, choices=SCORINGS, default="native",
        help="How answers are read: videoqa's parser (default) or lmms-eval's extraction rules "
        "(per-item results as lmms-eval's: compare with published numbers like for like). "
        "'lmms-eval' is accepted for lmms_eval.",
    )  # fmt: skip

    # Help shows the default style's settings; with --prompt native, max_new_tokens and prompt_style
    # are Settings'.
    add_settings_flags(p, defaults=eval_settings(benchmark.name, benchmark.prompt_styles[0]))

    job = p.add_argument_group("batch job (JobConfig; see videoqa run --help)")
    add_model_flags(job, JobConfig, skip=_JOB_SKIP)
    job.add_argument(
        "--storage-options", type=json.loads, default=argparse.SUPPRESS,
        help="fsspec options as JSON, e.g. an S3 endpoint.",
    )  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    declared = all_benchmarks()
    sub = parser.add_subparsers(
        dest="benchmark", required=True, metavar="{" + ",".join(b.name for b in declared) + "}"
    )
    parser.epilog = "benchmarks (declared in videoqa/eval/benchmarks/):\n" + "\n".join(
        f"  {b.name:<22} {b.summary}" for b in declared
    )
    for benchmark in declared:
        text = benchmark.summary
        _add_common(sub.add_parser(benchmark.name, help=text, description=text), benchmark)


def config_from_args(args: argparse.Namespace) -> Any:
    from videoqa.batch._config import JobConfig
    from videoqa.core._flags import settings_from_args
    from videoqa.eval._run import EvalConfig, eval_settings

    # the model's starting settings over the benchmark's (as EvalConfig without settings), then the flags
    defaults = eval_settings(args.benchmark, args.prompt)
    settings = settings_from_args(args, model=args.model, defaults=defaults)
    job_fields = set(JobConfig.model_fields) - set(_JOB_SKIP) | {"storage_options"}
    job = {k: getattr(args, k) for k in sorted(job_fields) if getattr(args, k, None) is not None}
    return EvalConfig(
        benchmark=args.benchmark,
        annotations=args.annotations,
        videos=args.videos,
        video_map=args.video_map,
        output=args.output,
        model=args.model,
        durations=getattr(args, "durations", None),
        prompt=args.prompt,
        scoring=args.scoring,
        clip_ground_truth=getattr(args, "clip_ground_truth", False),
        subtitles_dir=getattr(args, "subtitles_dir", None),
        limit=args.limit,
        video_suffix=args.video_suffix,
        settings=settings,
        job=job,
    )


def run(args: argparse.Namespace) -> int:
    """Exit 0 after a run, 2 when nothing could run (bad arguments, annotations, no video found)."""
    from pydantic import ValidationError

    from videoqa.eval._common import AnnotationError
    from videoqa.eval._run import run_eval

    try:
        result = run_eval(config_from_args(args), progress=False if args.quiet else None)
    except (ValidationError, AnnotationError, FileNotFoundError) as exc:  # nothing has run yet
        print(f"videoqa eval {args.benchmark}: {exc}")
        return 2
    print(result.table)
    print(f"Written: {', '.join(result.paths.values())}")
    return 0


def main(argv: list[str] | None = None, *, benchmark: str | None = None) -> int:
    """Entry point of ``pipelines/eval_*.py``: the ``videoqa eval`` flags with the benchmark fixed.

    Inside ``ray job submit`` (``RAY_ADDRESS`` set) the job joins that cluster unless ``--address``
    says otherwise.
    """
    import logging
    import os
    import sys

    parser = argparse.ArgumentParser(prog="videoqa eval", description=__doc__.splitlines()[0])
    add_arguments(parser)
    argv = sys.argv[1:] if argv is None else list(argv)
    if benchmark is not None:
        argv = [benchmark, *argv]
    args = parser.parse_args(argv)
    if getattr(args, "address", None) is None and os.environ.get("RAY_ADDRESS"):
        args.address = "auto"
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run(args)

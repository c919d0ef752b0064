"""Evaluate a model on Charades-STA (R@1 IoU 0.3/0.5/0.7, mIoU) or LVBench (accuracy by capability).

    videoqa eval charades-sta --annotations charades_sta_test.txt --videos Charades_v1_480/ \\
        --durations Charades_v1_test.csv --model Qwen/Qwen2.5-VL-7B-Instruct --output out/charades-7b
    videoqa eval lvbench --annotations video_info.meta.jsonl --videos lvbench/videos/ \\
        --model Qwen/Qwen2.5-VL-7B-Instruct --output out/lvbench-7b

Runs through the Ray batch job (local Ray by default, ``--address auto`` to join a cluster), then
writes items.parquet, summary.json and results.md under --output and prints the results table.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from videoqa.model.families import DEFAULT_MODEL

__all__ = ["add_arguments", "config_from_args", "main", "run"]

_JOB_FLAGS = (
    "address", "replicas", "gpus_per_replica", "cpus_per_replica", "decode_workers", "videos_per_call",
    "max_attempts", "cache_dir", "local_num_cpus", "resume", "storage_options", "max_batch_tokens",
    "prefix_reuse", "engine",
)  # fmt: skip


def _add_common(p: argparse.ArgumentParser, benchmark: str) -> None:
    data = p.add_argument_group("data")
    data.add_argument("--annotations", required=True, help="Annotation file of the benchmark.")
    data.add_argument("--videos", required=True, help="Folder or bucket prefix holding <id>.mp4 per video.")
    data.add_argument("--video-suffix", default=".mp4", help="File ending of the videos (default: .mp4).")
    if benchmark == "charades-sta":
        data.add_argument(
            "--durations", help="Charades_v1_test.csv (column 'length') or a {vid: seconds} JSON; "
            "without it durations come from probing the videos."
        )  # fmt: skip
        data.add_argument(
            "--clip-ground-truth", action="store_true",
            help="Clip ground-truth spans to [0, duration] before scoring (off by default, as lmms-eval).",
        )  # fmt: skip
    data.add_argument("--limit", type=int, help="Evaluate only the first N items (a quick subset).")
    data.add_argument("--output", required=True, help="Folder or bucket prefix for the results.")

    model = p.add_argument_group("model and prompt")
    model.add_argument("--model", default=DEFAULT_MODEL, help="HF id, local path or builtin:*.")
    model.add_argument(
        "--prompt", choices=("lmms-eval", "native"), default="lmms-eval",
        help="lmms-eval's prompts (default; comparable with published tables) or videoqa's own.",
    )  # fmt: skip

    model.add_argument(
        "--scoring", choices=("native", "lmms-eval"), default="native",
        help="How answers are read: videoqa's parser (default) or lmms-eval's extraction rules "
        "(per-item results as lmms-eval's: compare with published numbers like for like).",
    )  # fmt: skip

    from videoqa.core._flags import add_settings_flags
    from videoqa.eval._run import eval_settings

    # Help shows the lmms-eval defaults; with --prompt native, max_new_tokens and prompt_style are Settings'.
    add_settings_flags(p, defaults=eval_settings(benchmark, "lmms-eval"))

    job = p.add_argument_group("batch job (see videoqa run --help)")
    job.add_argument(
        "--address", help="Ray cluster to join ('auto' inside `ray job submit`); default: local Ray."
    )
    job.add_argument("--replicas", type=int, default=1, help="Model actors.")
    job.add_argument("--gpus-per-replica", type=float, help="GPUs per model actor (>1 shards the model).")
    job.add_argument("--cpus-per-replica", type=float, default=1.0)
    job.add_argument("--decode-workers", type=int, default=2, help="Concurrent decode tasks.")
    job.add_argument("--videos-per-call", type=int, default=1, help="Videos per model-actor call.")
    job.add_argument("--max-attempts", type=int, default=3)
    job.add_argument("--cache-dir", help="Visual-feature cache of the model actors.")
    job.add_argument("--local-num-cpus", type=int, help="CPUs of the local Ray started for the run.")
    job.add_argument(
        "--storage-options", type=json.loads, help="fsspec options as JSON, e.g. an S3 endpoint."
    )
    job.add_argument("--resume", action="store_true", help="Skip items already answered in --output.")
    job.add_argument(
        "--max-batch-tokens",
        type=int,
        help="Padded prompt tokens per generate call (default: from free GPU memory).",
    )
    job.add_argument(
        "--engine",
        choices=("transformers", "vllm"),
        default="transformers",
        help="Language-side engine (README 'Engines'): transformers, or vllm (same answers).",
    )
    job.add_argument(
        "--prefix-reuse",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Prefill each video's shared prefix once for all its questions (same answers; default on).",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="benchmark", required=True, metavar="{charades-sta,lvbench}")
    for name, text in (
        ("charades-sta", "Temporal grounding: R@1 at IoU 0.3/0.5/0.7 and mIoU."),
        ("lvbench", "Hour-long video QA: accuracy overall and per capability (ER, EU, KIR, TG, Rea, Sum)."),
    ):
        _add_common(sub.add_parser(name, help=text, description=text), name)


def config_from_args(args: argparse.Namespace) -> Any:
    from videoqa.core._flags import settings_from_args
    from videoqa.eval._run import EvalConfig, eval_settings

    settings = settings_from_args(args, eval_settings(args.benchmark, args.prompt))
    job = {k: getattr(args, k) for k in _JOB_FLAGS if getattr(args, k) is not None}
    return EvalConfig(
        benchmark=args.benchmark,
        annotations=args.annotations,
        videos=args.videos,
        output=args.output,
        model=args.model,
        durations=getattr(args, "durations", None),
        prompt=args.prompt,
        scoring=args.scoring,
        clip_ground_truth=getattr(args, "clip_ground_truth", False),
        limit=args.limit,
        video_suffix=args.video_suffix,
        settings=settings,
        job=job,
    )


def run(args: argparse.Namespace) -> int:
    from videoqa.eval._run import run_eval

    result = run_eval(config_from_args(args))
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
    if args.address is None and os.environ.get("RAY_ADDRESS"):
        args.address = "auto"
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run(args)

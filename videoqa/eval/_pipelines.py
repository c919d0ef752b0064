"""The ``pipelines/eval_<benchmark>.py`` entry points, generated from the benchmark declarations.

    python -m videoqa.eval._pipelines --write pipelines/   # (re)generate one file per declared benchmark
    python -m videoqa.eval._pipelines --check pipelines/   # exit 1 when a file is missing or drifted

``tests/test_eval_declared.py`` runs the check, so a new declaration without its pipeline fails CI.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from videoqa.eval._declare import Benchmark, builtin_benchmarks

__all__ = ["pipeline_files", "pipeline_text"]

_TEMPLATE = '''"""Evaluate a model on {title} on a Ray cluster.

{summary}

    ray job submit --address http://<head>:8265 --working-dir . -- \\\\
        python pipelines/eval_{slug}.py \\\\
            {example} \\\\
            --output s3://my-bucket/eval/{name}/qwen2.5-vl-7b/ \\\\
            --model Qwen/Qwen2.5-VL-7B-Instruct --replicas 8 --gpus-per-replica 1 --decode-workers 16 --resume

The annotation files are read on the driver (ship them in the working dir); videos and output may be
any folder the workers share, or a bucket. Inside a Ray job the script joins the job's cluster; on one
machine it starts a local Ray, like ``videoqa eval {name}``.
Flags: ``videoqa eval {name} --help``.

Generated from the declaration in videoqa/eval/benchmarks/ by
``python -m videoqa.eval._pipelines --write pipelines/``; edit the declaration, not this file.
"""

from __future__ import annotations

import sys

from videoqa.eval._cli import main

if __name__ == "__main__":
    sys.exit(main(benchmark="{name}"))
'''


def pipeline_text(benchmark: Benchmark) -> str:
    """The text of ``pipelines/eval_<slug>.py`` for ``benchmark``."""
    lines = benchmark.pipeline_example or (
        "--annotations data/annotations.json",
        "--videos s3://my-bucket/videos/",
    )
    example = " \\\\\n            ".join(lines)
    return _TEMPLATE.format(
        title=benchmark.title, summary=benchmark.summary, slug=benchmark.slug,
        name=benchmark.name, example=example,
    )  # fmt: skip


def pipeline_files() -> dict[str, str]:
    """``{file name: text}`` of every declared benchmark's entry point."""
    return {f"eval_{b.slug}.py": pipeline_text(b) for b in builtin_benchmarks()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m videoqa.eval._pipelines", description=__doc__.splitlines()[0]
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", metavar="FOLDER")
    mode.add_argument("--check", metavar="FOLDER")
    args = parser.parse_args(argv)
    folder = Path(args.write or args.check)
    drifted = []
    for name, text in pipeline_files().items():
        path = folder / name
        if args.write:
            path.write_text(text, encoding="utf-8")
        elif not path.is_file() or path.read_text(encoding="utf-8") != text:
            drifted.append(str(path))
    for path in drifted:
        print(f"{path} is missing or differs from its declaration; run with --write {folder}")
    return 1 if drifted else 0


if __name__ == "__main__":
    sys.exit(main())

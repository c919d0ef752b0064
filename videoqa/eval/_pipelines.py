"""The ``pipelines/eval_<benchmark>.py`` entry points and ``pipelines/README.md``, generated from the
benchmark declarations.

    python -m videoqa.eval._pipelines --write pipelines/   # (re)generate one file per declared benchmark
    python -m videoqa.eval._pipelines --check pipelines/   # exit 1 when a file is missing or drifted

Each entry point is the same three lines naming its benchmark; what a benchmark's command looks like
is in the README. ``tests/test_eval_declared.py`` runs the check, so a new declaration without its
pipeline fails CI.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from videoqa._generated import generated_main
from videoqa.eval._declare import Benchmark, builtin_benchmarks

__all__ = ["pipeline_files", "pipeline_text", "pipelines_readme"]

_TEMPLATE = '''"""``videoqa eval {name}`` as a ``ray job submit`` entry point: see pipelines/README.md."""

import sys

from videoqa.eval._cli import main

if __name__ == "__main__":
    sys.exit(main(benchmark="{name}"))
'''

_README = """# Entry points for `ray job submit`

Generated from the declarations in `videoqa/eval/benchmarks/` (and this text in
`videoqa/eval/_pipelines.py`) by `python -m videoqa.eval._pipelines --write pipelines/`; edit the
declaration, not these files.

- `analyze_bucket.py`: a `videoqa run` job (flags: `videoqa run --help`).
- `eval_<benchmark>.py`: `videoqa eval <benchmark>` (flags: `videoqa eval <benchmark> --help`).

The annotation files are read on the driver (ship them in the working dir); videos and output may be
any folder the workers share, or a bucket. Inside a Ray job a script joins the job's cluster
(`ray job submit` sets `RAY_ADDRESS`); on one machine it starts a local Ray, like the `videoqa`
command.
"""

_EXAMPLE = """
## {title}

{summary}

```bash
ray job submit --address http://<head>:8265 --working-dir . -- \\
    python pipelines/eval_{slug}.py \\
        {example} \\
        --output s3://my-bucket/eval/{name}/qwen2.5-vl-7b/ \\
        --model Qwen/Qwen2.5-VL-7B-Instruct --replicas 8 --gpus-per-replica 1 --decode-workers 16 --resume
```
"""


def _format(template: str, benchmark: Benchmark) -> str:
    lines = benchmark.pipeline_example or (
        "--annotations data/annotations.json",
        "--videos s3://my-bucket/videos/",
    )
    example = " \\\n        ".join(lines)
    return template.format(
        title=benchmark.title, summary=benchmark.summary, slug=benchmark.slug,
        name=benchmark.name, example=example,
    )  # fmt: skip


def pipeline_text(benchmark: Benchmark) -> str:
    """The text of ``pipelines/eval_<slug>.py`` for ``benchmark``."""
    return _format(_TEMPLATE, benchmark)


def pipelines_readme() -> str:
    """The text of ``pipelines/README.md``: each benchmark's ``ray job submit`` command."""
    return _README + "".join(_format(_EXAMPLE, b) for b in builtin_benchmarks())


def pipeline_files() -> dict[str, str]:
    """``{file name: text}`` of every declared benchmark's entry point."""
    return {f"eval_{b.slug}.py": pipeline_text(b) for b in builtin_benchmarks()}


def main(argv: Sequence[str] | None = None) -> int:
    return generated_main(
        "videoqa.eval._pipelines",
        __doc__.splitlines()[0],
        lambda: {**pipeline_files(), "README.md": pipelines_readme()},
        argv,
    )


if __name__ == "__main__":
    sys.exit(main())

"""The ``videoqa`` command: ``analyze | run | demo | eval | report | compact``.

Each sub-command lives in its own module exposing ``add_arguments(parser)`` and
``run(args) -> int``; heavy imports happen inside ``run``, so ``videoqa --help``
is instant.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

__all__ = ["build_parser", "main"]

_COMMANDS = {
    "analyze": ("videoqa._analyze_cli", "Ask one question of one video."),
    "run": ("videoqa.batch._cli", "Run a batch job over a bucket of videos on Ray."),
    "demo": ("videoqa.batch._demo", "Offline demo: generate a small bucket and run the full Ray job on it."),
    "eval": ("videoqa.eval._cli", "Evaluate a model on a benchmark (videoqa eval --help lists them)."),
    "report": ("videoqa.report._cli", "Write an HTML report of a job's or an evaluation's output."),
    "compact": ("videoqa.batch._compact", "Merge a job's output files into large ones (one row per item)."),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="videoqa",
        description="Ask questions of hours-long video with Qwen2.5-VL; answers carry absolute seconds.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="Log debug messages.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in _COMMANDS.items():
        module = importlib.import_module(module_name)
        sub_parser = sub.add_parser(name, help=help_text, description=module.__doc__)
        module.add_arguments(sub_parser)
        sub_parser.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

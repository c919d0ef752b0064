"""Write one self-contained HTML report of a job's output: a summary, a timeline per video with
every grounded span to scale, thumbnails of the frames at each span's start and end, the answers
and the failures. Open the file in any browser; it needs no network.

Given the --output of `videoqa eval` (it holds summary.json and items.parquet), the page is the
evaluation's results instead: the results table, the score per category and per video duration, and
the worst items with their videos' timelines (ground truth, the model's spans, the windows it saw).

Example: videoqa report out/            (writes out/report.html)
"""

from __future__ import annotations

import argparse

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "output",
        metavar="OUTPUT",
        help="The --output folder or bucket prefix of a job (videoqa run) or an evaluation (videoqa eval).",
    )
    parser.add_argument(
        "--html",
        "-o",
        dest="report_path",
        metavar="FILE",
        default=None,
        help="Where to write the report (default: OUTPUT/report.html).",
    )
    parser.add_argument(
        "--no-thumbnails",
        dest="thumbnails",
        action="store_false",
        help="Do not decode frames for span thumbnails (faster; the videos need not be readable).",
    )
    parser.add_argument(
        "--worst",
        type=int,
        default=10,
        metavar="N",
        help="Evaluation outputs: list the N items with the lowest score (default: 10).",
    )
    parser.add_argument(
        "--max-thumbnails",
        type=int,
        default=24,
        metavar="N",
        help="Thumbnails for at most N spans per video (default: 24).",
    )


def run(args: argparse.Namespace) -> int:
    """Exit 0 after writing the page, 2 when OUTPUT is neither a job's nor an evaluation's output."""
    from videoqa.eval._page import is_eval_output, render_eval_report
    from videoqa.report import render_job_report

    if args.max_thumbnails < 0:
        raise SystemExit(f"--max-thumbnails must be >= 0, got {args.max_thumbnails}")
    if args.worst < 0:
        raise SystemExit(f"--worst must be >= 0, got {args.worst}")
    options = {"report_path": args.report_path, "thumbnails": args.thumbnails,
               "max_thumbnail_spans": args.max_thumbnails}  # fmt: skip
    try:
        if is_eval_output(args.output):
            path = render_eval_report(args.output, worst=args.worst, **options)
        else:
            path = render_job_report(args.output, **options)
    except FileNotFoundError as exc:
        print(
            f"videoqa report: {exc}\nOUTPUT must be the --output of `videoqa run` (answers/ and failures/ "
            "tables) or of `videoqa eval` (summary.json and items.parquet)."
        )
        return 2
    print(f"Wrote {path}")
    return 0

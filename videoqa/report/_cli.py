"""Write one self-contained HTML report of a job's output: a summary, a timeline per video with
every grounded span to scale, thumbnails of the frames at each span's start and end, the answers
and the failures. Open the file in any browser; it needs no network.

Example: videoqa report out/            (writes out/report.html)
"""

from __future__ import annotations

import argparse

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("output", metavar="OUTPUT", help="The job's --output folder or bucket prefix.")
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
        "--max-thumbnails",
        type=int,
        default=24,
        metavar="N",
        help="Thumbnails for at most N spans per video (default: 24).",
    )


def run(args: argparse.Namespace) -> int:
    from videoqa.report import render_job_report

    if args.max_thumbnails < 0:
        raise SystemExit(f"--max-thumbnails must be >= 0, got {args.max_thumbnails}")
    path = render_job_report(
        args.output,
        report_path=args.report_path,
        thumbnails=args.thumbnails,
        max_thumbnail_spans=args.max_thumbnails,
    )
    print(f"Wrote {path}")
    return 0

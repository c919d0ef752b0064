"""Ask one question of one video and print the answer, its spans and the sampling used.

Examples::

    videoqa analyze talk.mp4 "When does the speaker show the chart?" --task grounding
    videoqa analyze talk.mp4 "What colour is the car?" --task choice --options red blue green
    videoqa analyze talk.mp4 "What happens?" --json > answer.json
    videoqa analyze demo.mp4 "the red square" --task grounding --model builtin:scripted

Times are absolute seconds on the video's timeline.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

__all__ = ["add_arguments", "run"]

_TASKS = ("qa", "choice", "grounding", "events")  # tests/test_analyze_cli.py checks it is analysis.Task


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from videoqa.core._flags import add_settings_flags
    from videoqa.core._session import DEFAULT_MODEL

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("video", help="Path or fsspec URL (s3://, gs://, ...) of the video.")
    parser.add_argument("question", help="The question, or for --task grounding the event to find.")
    parser.add_argument("--task", choices=_TASKS, default="qa", help="Kind of answer wanted (default: qa).")
    parser.add_argument("--options", nargs="+", metavar="OPTION", help="Answer options for --task choice.")
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help="Hub id, local checkpoint directory, or builtin:tiny-qwen2.5-vl / builtin:scripted.",
    )
    parser.add_argument(
        "--engine",
        choices=("transformers", "vllm"),
        default="transformers",
        help="Language-side engine (README 'Engines'): transformers, or vllm (same answers, self-checked).",
    )
    parser.add_argument("--cache-dir", help="Directory of the visual cache (default: no cache).")
    parser.add_argument(
        "--subtitles",
        default="auto",
        metavar="auto|sidecar|stream|asr|asr:MODEL|none|FILE",
        help="Timed text given with the frames: auto (default: a subtitle file next to the video, e.g. "
        "talk.srt / talk.en.vtt, else a text subtitle stream in it), sidecar, stream, asr (speech "
        "recognition, Whisper large-v3-turbo) or asr:MODEL (a Whisper id or folder), none, or a "
        ".srt/.vtt/.ass/.ssa file.",
    )
    parser.add_argument("--subtitles-language", help="Subtitle language to pick (en, fra, ...).")
    parser.add_argument("--json", action="store_true", help="Print the whole Analysis as JSON.")
    parser.add_argument(
        "--occurrences",
        choices=("first", "all"),
        default="first",
        help="--task grounding: the best span first (default) or every occurrence, in time order.",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="No progress bars (they show only on a terminal anyway)."
    )
    parser.add_argument(
        "--html",
        metavar="FILE",
        help="Also write a self-contained HTML page of the analysis: spans on a timeline, "
        "thumbnails, and each coarse-to-fine step (see videoqa.report).",
    )
    add_settings_flags(parser)


def _summary(analysis) -> str:
    lines = [f"answer: {analysis.answer or '(none)'}"]
    if analysis.choice:
        lines.append(f"choice: {analysis.choice}")
    for span in analysis.spans:
        label = f"  {span.label}" if span.label else ""
        lines.append(f"span: {span.start_seconds:.2f} - {span.end_seconds:.2f} s{label}")
    if analysis.parse_error:
        lines.append(f"note: {analysis.parse_error}")
    lines.append(
        f"model: {analysis.model_id}  strategy: {analysis.strategy}  config: {analysis.config_hash}  "
        f"video: {analysis.video_duration_seconds:.1f} s from {analysis.video_start_seconds:.2f} s"
    )
    for step in analysis.steps:
        tokens = sum(w.visual_tokens for w in step.windows)
        frames = sum(w.num_frames for w in step.windows)
        cached = sum(w.cached for w in step.windows)
        fps = ", ".join(sorted({f"{w.sampled_fps:.3g}" for w in step.windows}))
        lines.append(
            f"step {step.name}: {len(step.windows)} windows, {frames} frames at {fps} fps, "
            f"{tokens} visual tokens, {cached} cached"
        )
    if analysis.subtitles is not None and analysis.subtitles.cues:
        text = analysis.subtitles
        lines.append(f"subtitles: {len(text.cues)} cues from {text.source} ({text.kind})")
    lines.append(f"time: {analysis.timings_seconds.get('total', 0.0):.2f} s")
    return "\n".join(lines)


def _html_target_problem(path: str | None) -> str | None:
    if not path:
        return None
    target = Path(path)
    if target.is_dir():
        return "is a folder; give a file name such as answer.html"
    folder = target.parent
    if not folder.is_dir():
        return f"the folder {str(folder)!r} does not exist; create it first"
    if not os.access(folder, os.W_OK):
        return f"the folder {str(folder)!r} is not writable"
    return None


def run(args: argparse.Namespace) -> int:
    from videoqa.core._flags import settings_from_args
    from videoqa.core._session import Session, make_question
    from videoqa.errors import VideoQAError

    if args.task == "choice" and not args.options:
        print("error: --task choice needs --options", file=sys.stderr)
        return 2
    problem = _html_target_problem(args.html)
    if problem:  # checked before the model loads and the video is read, not after the answer
        print(f"error: --html {args.html}: {problem}", file=sys.stderr)
        return 2
    try:
        settings = settings_from_args(args, model=args.model)
        engine = {"model_options": {"engine": args.engine}} if args.engine != "transformers" else {}
        session = Session(
            args.model, settings, cache_dir=args.cache_dir, progress=False if args.quiet else None, **engine
        )
        question = make_question(args.question, task=args.task, options=args.options)
        if args.occurrences != "first":
            question = question.model_copy(update={"occurrences": args.occurrences})
        analysis = session.analyze(
            args.video,
            question,
            subtitles=None if args.subtitles.lower() == "none" else args.subtitles,
            subtitles_language=args.subtitles_language,
        )
    except (VideoQAError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(analysis.model_dump_json(indent=2))
    else:
        print(_summary(analysis))
    if args.html:
        Path(args.html).write_text(analysis.to_html(), encoding="utf-8")
        print(f"Wrote {args.html}", file=sys.stderr if args.json else sys.stdout)
    return 0

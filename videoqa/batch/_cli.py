"""Run a batch job over a bucket of videos on Ray: probe, decode, answer, write Parquet.

Every flag mirrors a field of ``videoqa.batch.JobConfig`` or of ``videoqa.Settings`` (``--fps``,
``--max-frames``, ``--strategy``, ``--max-new-tokens`` ..., the same flags as ``videoqa analyze``).
``--config job.yaml`` loads a JobConfig file; flags given
on the command line override it. Example::

    videoqa run --videos s3://bucket/videos/ --questions questions.jsonl --output s3://bucket/out/ \\
        --model Qwen/Qwen2.5-VL-7B-Instruct --replicas 4 --decode-workers 8 --resume

Exit code: 0 when every item of the run was answered, 1 when any item ended in the failures table,
2 for bad arguments or inputs (nothing ran).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

__all__ = ["add_arguments", "config_from_args", "run"]

EXIT_TEMPFAIL = 75
"""Exit code when the inputs' store could not be reached (sysexits' EX_TEMPFAIL: try again later)."""
_SKIP = ("settings", "video_extensions", "storage_options")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from videoqa.batch._config import JobConfig
    from videoqa.core._flags import add_model_flags, add_settings_flags

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--config", help="JobConfig as JSON or YAML; command-line flags override its values.")
    add_model_flags(parser, JobConfig, skip=_SKIP)
    add_settings_flags(parser)
    parser.add_argument(
        "--storage-options",
        type=json.loads,
        default=argparse.SUPPRESS,
        help='fsspec options as JSON, e.g. \'{"client_kwargs": {"endpoint_url": "http://minio:9000"}}\'',
    )
    parser.add_argument(
        "--video-extensions",
        default=argparse.SUPPRESS,
        help="Comma-separated file endings taken as videos when listing; '' takes every file.",
    )
    parser.add_argument("--summary-json", help="Also write the closing summary to this JSON file.")
    parser.add_argument(
        "--compact",
        action="store_true",
        help="After the run, merge the output's part files into large files (see `videoqa compact`).",
    )


def config_from_args(args: argparse.Namespace) -> Any:
    """The JobConfig of parsed ``videoqa run`` arguments (``--config`` file, then flags)."""
    from videoqa.batch._config import JobConfig
    from videoqa.core._flags import settings_from_args
    from videoqa.core.settings import Settings

    given = {k: v for k, v in vars(args).items() if not k.startswith("_") and k not in ("command", "verbose")}
    base = JobConfig.from_file(given.pop("config")).model_dump() if given.get("config") else {}
    given.pop("config", None)
    given.pop("summary_json", None)
    given.pop("compact", None)
    if "video_extensions" in given:
        given["video_extensions"] = tuple(e for e in given["video_extensions"].split(",") if e)
    model = given.get("model") or base.get("model") or JobConfig.model_fields["model"].default
    given_settings = Settings(**base.pop("settings")) if "settings" in base else None
    settings = settings_from_args(args, model=model, given=given_settings)
    given = {k: v for k, v in given.items() if k not in Settings.model_fields}
    return JobConfig.model_validate({**base, **given, "settings": settings})


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from videoqa.batch._job import plan_units, run_planned
    from videoqa.errors import SourceUnreachableError

    try:
        config = config_from_args(args)
    except ValidationError as exc:
        print(f"videoqa run: invalid arguments:\n{exc}")
        return 2
    started = time.perf_counter()
    try:
        planned = plan_units(config)
    except SourceUnreachableError as exc:  # retried already; nothing has run yet: run again later
        print(f"videoqa run: {exc}")
        return EXIT_TEMPFAIL
    except (FileNotFoundError, ValueError) as exc:  # bad --videos / --questions: nothing has run yet
        print(f"videoqa run: {exc}")
        return 2
    summary = run_planned(config, planned, started=started)  # errors of the run itself propagate
    print(summary)
    if getattr(args, "summary_json", None):
        with open(args.summary_json, "w", encoding="utf-8") as f:
            f.write(summary.model_dump_json(indent=2))
    if getattr(args, "compact", False) and summary.questions:  # no items: no output to compact
        from videoqa.batch._compact import compact

        print(compact(config.output, storage_options=config.storage_options))
    if summary.failures:
        print(f"videoqa run: {summary.failures} items failed (see the failures table); exit code 1")
        return 1
    return 0

"""Files generated from a declaration (``schemas/``, ``pipelines/``, ``docs/stages.md``): write or check them.

Each generator gives ``{file name: text}``; :func:`generated_main` is its ``--write DIR`` /
``--check DIR`` command line, and a test runs the check so a stale file fails CI.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

__all__ = ["drifted_files", "generated_main", "write_files"]


def write_files(folder: str | Path, files: Mapping[str, str]) -> list[Path]:
    """Write ``files`` into ``folder`` (created if missing); the paths written."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in files.items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def drifted_files(folder: str | Path, files: Mapping[str, str]) -> list[str]:
    """Names of ``files`` that are missing from ``folder`` or differ from their generated text."""
    out = Path(folder)
    return [
        name
        for name, text in files.items()
        if not (out / name).is_file() or (out / name).read_text(encoding="utf-8") != text
    ]


def generated_main(
    prog: str, description: str, files: Callable[[], Mapping[str, str]], argv: Sequence[str] | None = None
) -> int:
    """``python -m <prog> --write DIR | --check DIR``: 0, or 1 when ``--check`` finds a stale file."""
    parser = argparse.ArgumentParser(prog=f"python -m {prog}", description=description)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", metavar="DIR", help="Write the generated files into DIR.")
    group.add_argument("--check", metavar="DIR", help="Exit 1 when DIR's files differ from the declaration.")
    args = parser.parse_args(argv)
    if args.write:
        for path in write_files(args.write, files()):
            print(path)
        return 0
    drifted = drifted_files(args.check, files())
    for name in drifted:
        print(
            f"{name} is missing or out of date; run: python -m {prog} --write {args.check}", file=sys.stderr
        )
    return 1 if drifted else 0

"""Where the real public annotation files are (never committed): ``../shared/real_annotations`` next to
the repository, or two levels up for a git worktree under ``<repo parent>/wt/<name>``; or the folder
named by ``VIDEOQA_REAL_ANNOTATIONS``. Tests skip with a note when none exists."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[1]


def _find() -> Path:
    named = os.environ.get("VIDEOQA_REAL_ANNOTATIONS")
    candidates = [Path(named)] if named else []
    candidates += [
        _ROOT.parent / "shared" / "real_annotations",
        _ROOT.parent.parent / "shared" / "real_annotations",
    ]
    return next((c for c in candidates if c.is_dir()), candidates[0])


REAL = _find()
needs_real = pytest.mark.skipif(
    not REAL.is_dir(), reason="real annotation files not present (../shared/real_annotations; not committed)"
)

"""``--resume``: find the items an earlier run of the same output already finished."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from videoqa.batch._read import read_tables
from videoqa.batch._writer import drop_failure_rows, failure_files

__all__ = ["ResumeState", "finished_item_keys", "read_resume_state", "repair_stale_failures"]


@dataclass
class ResumeState:
    """What an output already holds: answered item keys and the failures files of each failed item."""

    answered: set[str] = field(default_factory=set)
    failure_files: dict[str, list[str]] = field(default_factory=dict)  # item_key -> failures file names

    def done(self, *, retry_failed: bool) -> set[str]:
        """Item keys ``--resume`` skips: answered ones, and failed ones unless ``retry_failed``."""
        return self.answered if retry_failed else self.answered | set(self.failure_files)

    def stale(self) -> dict[str, set[str]]:
        """{failures file name: item keys} of failures rows whose item also has an answers row."""
        drop: dict[str, set[str]] = {}
        for key, names in self.failure_files.items():
            if key in self.answered:
                for name in names:
                    drop.setdefault(name, set()).add(key)
        return drop

    def superseded(self, keys: list[str]) -> dict[str, list[str]]:
        """{failures file name: item keys} of the earlier failures rows of ``keys`` (items re-run)."""
        found: dict[str, list[str]] = {}
        for key in keys:
            for name in self.failure_files.get(key, ()):
                found.setdefault(name, []).append(key)
        return found


def read_resume_state(output: str, *, storage_options: dict[str, Any] | None = None) -> ResumeState:
    """Read the answered keys and the failures files of ``output`` (empty when nothing is written)."""
    answers = read_tables(
        output, tables=["answers"], columns={"answers": ["item_key"]}, storage_options=storage_options
    )["answers"]
    state = ResumeState(answered=set(answers.column("item_key").to_pylist()))
    for name, keys in failure_files(output, storage_options=storage_options).items():
        for key in keys:
            state.failure_files.setdefault(key, []).append(name)
    return state


def repair_stale_failures(
    output: str, state: ResumeState, *, storage_options: dict[str, Any] | None = None
) -> int:
    """Remove failures rows of answered items (answers are authoritative); returns how many items."""
    drop = state.stale()
    if drop:
        drop_failure_rows(output, drop, storage_options=storage_options)
    stale_keys = set().union(*drop.values()) if drop else set()
    for key in stale_keys:
        del state.failure_files[key]
    return len(stale_keys)


def finished_item_keys(output: str, *, storage_options: dict[str, Any] | None = None) -> set[str]:
    """``item_key`` of every item with an answers row or a failures row under ``output``.

    The item key hashes (video, question, config), so items of another config or an edited question
    are not in the set and run again. Spans and windows are written before answers and failures,
    so an item in this set has all its rows.
    """
    return read_resume_state(output, storage_options=storage_options).done(retry_failed=False)

"""What an output already holds: finished items, and where their rows live (for ``--resume`` and re-runs)."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

import fsspec

from videoqa.batch._writer import (
    DETAIL_TABLES,
    DONE_TABLES,
    damaged_note,
    drop_rows,
    logger,
    part_file_name,
    scan_keys,
)

__all__ = ["ResumeState", "finished_item_keys", "read_resume_state", "repair_stale_failures"]


@dataclass
class ResumeState:
    """Answered and failed item keys, and the files ("<table>/<name>") holding rows of each key."""

    answered: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    files: dict[str, set[str]] = field(default_factory=dict)  # item_key -> {"<table>/<file name>"}
    damaged: dict[str, str] = field(default_factory=dict)  # path -> problem: files left out, unreadable

    def done(self, *, retry_failed: bool) -> set[str]:
        """Item keys ``--resume`` skips: answered ones, and failed ones unless ``retry_failed``."""
        return set(self.answered) if retry_failed else self.answered | self.failed

    def stale(self) -> dict[str, set[str]]:
        """{"failures/<file name>": item keys} of failures rows whose item also has an answers row."""
        drop: dict[str, set[str]] = {}
        for key in self.answered & self.failed:
            for rel in self.files.get(key, ()):
                if rel.startswith("failures/"):
                    drop.setdefault(rel, set()).add(key)
        return drop

    def elsewhere(self, keys: list[str], video: str) -> dict[str, set[str]]:
        """{"<table>/<file name>": item keys}: rows of ``keys`` outside ``video``'s own part files.

        A unit rewrites its video's part files itself; these other rows (compacted files, an older
        layout) must go before the items run again.
        """
        own = part_file_name(video)
        found: dict[str, set[str]] = {}
        for key in keys:
            for rel in self.files.get(key, ()):
                if posixpath.basename(rel) != own:
                    found.setdefault(rel, set()).add(key)
        return found


def read_resume_state(output: str, *, storage_options: dict[str, Any] | None = None) -> ResumeState:
    """Read the item keys of every table of ``output`` (empty when nothing is written).

    One multi-threaded dataset scan of the ``item_key`` column per table, never one read per file.
    Spans and windows are scanned in compacted files only (rows an interrupted removal left there
    are found and removed); in part files the unit's writer replaces them itself. A damaged file
    (truncated, 0 bytes) is left out with a warning: its items are not done and run again.
    """
    state = ResumeState()
    for table in DONE_TABLES + DETAIL_TABLES:
        only = table not in DONE_TABLES
        arrow, paths = scan_keys(
            output, table, storage_options=storage_options, compacted_only=only, damaged=state.damaged
        )
        keys = arrow.column("item_key").to_pylist()
        if table == "answers":
            state.answered = set(keys)
        elif table == "failures":
            state.failed = set(keys)
        names = [f"{table}/{posixpath.basename(p)}" for p in paths]
        for key, index in zip(keys, arrow.column("_file").to_pylist(), strict=True):
            state.files.setdefault(key, set()).add(names[index])
    if state.damaged:
        fs, root = fsspec.core.url_to_fs(output, **(storage_options or {}))
        for path, problem in sorted(state.damaged.items()):
            logger.warning("%s", damaged_note(fs, root, path, problem))
    return state


def repair_stale_failures(
    output: str, state: ResumeState, *, storage_options: dict[str, Any] | None = None
) -> int:
    """Remove failures rows of answered items (answers are authoritative); returns how many items."""
    drop = state.stale()
    if drop:
        drop_rows(output, drop, storage_options=storage_options)
    stale_keys = set().union(*drop.values()) if drop else set()
    state.failed -= stale_keys
    for key in stale_keys:
        state.files[key] = {rel for rel in state.files[key] if not rel.startswith("failures/")}
    return len(stale_keys)


def finished_item_keys(output: str, *, storage_options: dict[str, Any] | None = None) -> set[str]:
    """``item_key`` of every item with an answers row or a failures row under ``output``.

    The item key hashes (video, question, config), so items of another config or an edited question
    are not in the set and run again. Spans and windows are written before answers and failures,
    so an item in this set has all its rows.
    """
    return read_resume_state(output, storage_options=storage_options).done(retry_failed=False)

"""``docs/stages.md``, the column diagram of a ``videoqa run`` job, generated from its declaration.

    python -m videoqa.batch._stages_doc --write docs/   # (re)generate docs/stages.md
    python -m videoqa.batch._stages_doc --check docs/   # exit 1 when it is missing or stale

``tests/test_batch_stages.py`` runs the check, so a changed declaration without its doc fails CI.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from videoqa._generated import generated_main
from videoqa.batch._pipeline import INPUT_COLUMNS, STAGES, SUMMARY_FIELDS, UNIT_FIELDS, Resources, Stage

__all__ = ["main", "stages_markdown"]

_HEADER = """# The stages of a `videoqa run` job

Generated from the declaration in `videoqa/batch/_pipeline.py` by
`python -m videoqa.batch._stages_doc --write docs/`; edit the declaration, not this file
(`tests/test_batch_stages.py` fails when this file is stale, and when a stage reads a column that
neither the driver nor an earlier stage fills).

Every stage keeps every unit column (empty until filled: blocks always share one schema). A unit
that failed in a stage carries `failure_json` and passes the later stages untouched until
`write_outputs` turns it into one failures row per question.
"""


def _resources(stage: Stage) -> str:
    res: Resources = stage.resources
    unit = "actor" if stage.actor else "task"
    parts = [f"{_config(res.num_cpus)} CPU per {unit}"]
    if res.memory:
        parts.append(f"{_config(res.memory)} bytes of memory per task")
    if res.gpus:
        parts.append("the replica's GPUs (`gpus_per_replica`, default 1 when the cluster has GPUs)")
    if res.concurrency:
        parts.append(f"{_config(res.concurrency)} {unit}s at once")
    if res.tasks_in_flight_per_actor:
        parts.append(f"{res.tasks_in_flight_per_actor} calls in flight per actor")
    if stage.batch_size is not None:
        parts.append(f"{_config(stage.batch_size)} row(s) per call")
    return "; ".join(parts)


def _config(value: float | str) -> str:
    return f"`{value}`" if isinstance(value, str) else f"{value:g}"


def _diagram() -> str:
    width = max(len(s.name) for s in STAGES) + 2
    lines = [f"{'the driver':<{width}} fills  {' '.join(INPUT_COLUMNS)}   (list + resume: one row per unit)"]
    for s in STAGES:
        lines.append(f"  -> {s.name:<{width}}({'actor' if s.actor else 'task'}) {s.rows}")
        lines.append(f"       reads  {' '.join(s.needs)}")
        lines.append(f"       fills  {' '.join(s.produces)}")
    return "```\n" + "\n".join(lines) + "\n```\n"


def _stage_table() -> str:
    rows = ["| stage | callable | what it does | Ray resources |", "|---|---|---|---|"]
    rows += [f"| `{s.name}` | `{s.fn}` | {s.description} | {_resources(s)} |" for s in STAGES]
    return "\n".join(rows) + "\n"


def _column_table(columns: Sequence, *, flow: bool) -> str:
    head = (
        "| column | Arrow type | empty | filled by | read by | description |"
        if flow
        else ("| column | type | description |")
    )
    rows = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for c in columns:
        if not flow:
            rows.append(f"| `{c.name}` | {c.arrow_type} | {c.description} |")
            continue
        filled = ["the driver"] if c.name in INPUT_COLUMNS else []
        filled += [s.name for s in STAGES if c.name in s.produces and not s.new_row]
        read = [s.name for s in STAGES if c.name in s.needs]
        rows.append(
            f"| `{c.name}` | {c.arrow_type} | `{c.empty!r}` | {', '.join(filled) or '-'} | "
            f"{', '.join(read) or '-'} | {c.description} |"
        )
    return "\n".join(rows) + "\n"


def stages_markdown() -> str:
    """The text of ``docs/stages.md``."""
    return "\n".join(
        [
            _HEADER,
            "## Column flow\n",
            _diagram(),
            "## Stages\n",
            _stage_table(),
            "## Unit columns (between stages)\n",
            _column_table(UNIT_FIELDS, flow=True),
            "## Summary row (`write_outputs`, one per unit, read by the job's progress)\n",
            _column_table(SUMMARY_FIELDS, flow=False),
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    return generated_main(
        "videoqa.batch._stages_doc", __doc__.splitlines()[0], lambda: {"stages.md": stages_markdown()}, argv
    )


if __name__ == "__main__":
    sys.exit(main())

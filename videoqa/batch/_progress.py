"""Progress lines while a job runs, and the closing :class:`JobSummary`."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["JobSummary", "Progress"]

logger = logging.getLogger("videoqa.batch")


class JobSummary(BaseModel):
    """What a job did. ``str(summary)`` is the closing report printed by ``videoqa run``."""

    model_config = ConfigDict(extra="forbid")

    output: str = Field(description="Output folder or prefix holding the four tables.")
    model_id: str = Field(description="Model string the job ran.")
    config_hash: str = Field(description="videoqa.config_hash of the model and the settings; on every row.")
    videos: int = Field(description="Videos processed in this run (each with one or more pending questions).")
    videos_failed: int = Field(
        description="Videos whose every question became a failure (probe/decode/model)."
    )
    video_hours: float = Field(
        description="Hours of video answered in this run (probed durations; failed videos not counted)."
    )
    questions: int = Field(description="(video, question) items in scope, including skipped ones.")
    skipped: int = Field(description="Items skipped by --resume because they were already written.")
    answers: int = Field(description="answers rows written in this run.")
    no_event: int = Field(
        default=0, description="Of those, answers saying the event does not occur (no span, not an error)."
    )
    failures: int = Field(description="failures rows written in this run.")
    prompt_tokens: int = Field(default=0, description="Prompt tokens the answers asked the model to prefill.")
    reused_prompt_tokens: int = Field(
        default=0,
        description="Of those, tokens served from a shared prefix instead of computed (prefix reuse).",
    )
    spans: int = Field(description="spans rows written in this run.")
    model_calls: int = Field(description="(video, question) items the model actors analysed in this run.")
    unmatched_questions: list[str] = Field(
        default_factory=list, description="Question ids matching no video."
    )
    decode_seconds: float = Field(description="Wall time of all decode tasks together (one CPU each).")
    model_seconds: float = Field(description="Wall time of all model-actor calls together.")
    wall_seconds: float = Field(description="Wall time of the whole run, Ray start-up included.")
    video_hours_per_hour: float = Field(description="video_hours / wall hours.")
    failure_types: dict[str, int] = Field(default_factory=dict, description="failures rows per error_type.")
    decode_blocks: int = Field(
        default=0, description="Blocks the decode stage produced (Ray Data's stats): one per window."
    )
    decode_block_max_rows: int = Field(
        default=0, description="Most rows in one decode block (1: one window)."
    )
    decode_block_max_bytes: int = Field(
        default=0,
        description="Largest decode block in bytes: about one decoded window, the most a decode task holds.",
    )

    def __str__(self) -> str:
        lines = [
            f"videoqa run: {self.videos} videos ({self.video_hours:.3f} h of video), "
            f"{self.questions} (video, question) items",
            f"  answers {self.answers} ({self.no_event} say the event does not occur), "
            f"failures {self.failures} ({self.videos_failed} videos failed), "
            f"skipped (resume) {self.skipped}, model calls {self.model_calls}",
            f"  prefill tokens computed {self.prompt_tokens - self.reused_prompt_tokens:,} of "
            f"{self.prompt_tokens:,} requested (the rest reused a shared video prefix)",
            f"  wall time {self.wall_seconds:.1f} s, {self.video_hours_per_hour:.2f} video-hours per hour",
            f"  decode: {self.decode_blocks} blocks of at most {self.decode_block_max_rows} window(s), "
            f"largest {self.decode_block_max_bytes / 2**20:.1f} MiB",
            f"  model {self.model_id}, config {self.config_hash}",
            f"  output: {self.output}/{{answers,spans,windows,failures}}/*.parquet",
        ]
        if self.failure_types:
            kinds = ", ".join(f"{k} x{v}" for k, v in sorted(self.failure_types.items()))
            lines.append(f"  failure types: {kinds}  (see the failures table)")
        if self.unmatched_questions:
            lines.append(f"  WARNING: questions matching no video: {self.unmatched_questions[:10]}")
        return "\n".join(lines)


class Progress:
    """Counts finished units and logs a progress line at most every ``interval_seconds``; ``bar``
    (``videoqa.core._progress.Progress.bar``) counts the items answered or failed."""

    def __init__(
        self, *, total_videos: int, total_items: int, interval_seconds: float, bar: Any = None
    ) -> None:
        self.bar = bar
        self.total_videos = total_videos
        self.total_items = total_items
        self.interval_seconds = interval_seconds
        self.started = time.perf_counter()
        self._last_log = self.started
        self.videos = self.videos_failed = self.answers = self.failures = self.spans = self.model_calls = 0
        self.no_event = self.prompt_tokens = self.reused_prompt_tokens = 0
        self.video_seconds = self.decode_seconds = self.model_seconds = 0.0
        self.failure_types: dict[str, int] = {}
        self.decode_blocks = self.decode_block_max_rows = self.decode_block_max_bytes = 0

    def record_decode_blocks(self, stats: tuple[int, int, int]) -> None:
        """Add one pass's decode blocks: (count, most rows in one, largest in bytes)."""
        self.decode_blocks += stats[0]
        self.decode_block_max_rows = max(self.decode_block_max_rows, stats[1])
        self.decode_block_max_bytes = max(self.decode_block_max_bytes, stats[2])

    def update(self, unit: dict[str, Any]) -> None:
        """Account for one finished unit (a summary row of ``write_outputs``)."""
        self.videos += 1
        answered = int(unit["answers"]) > 0
        if answered:  # a failed video's probed duration may be anything (a broken header): not counted
            self.video_seconds += float(unit["duration_seconds"])
        self.answers += int(unit["answers"])
        self.no_event += int(unit["no_event"])
        self.prompt_tokens += int(unit["prompt_tokens"])
        self.reused_prompt_tokens += int(unit["reused_prompt_tokens"])
        self.failures += int(unit["failures"])
        self.spans += int(unit["spans"])
        self.model_calls += int(unit["model_calls"])
        self.decode_seconds += float(unit["decode_seconds"])
        self.model_seconds += float(unit["model_seconds"])
        if not answered and int(unit["failures"]) > 0:  # a failed stage, or every question failed
            self.videos_failed += 1
        if self.bar is not None:
            self.bar.update(int(unit["answers"]) + int(unit["failures"]))
        for error_type, count in json.loads(unit["failure_types_json"]).items():
            self.failure_types[error_type] = self.failure_types.get(error_type, 0) + count
        now = time.perf_counter()
        if now - self._last_log >= self.interval_seconds or self.videos == self.total_videos:
            self._last_log = now
            logger.info(self.line())

    def line(self) -> str:
        elapsed = time.perf_counter() - self.started
        rate = (self.video_seconds / 3600) / (elapsed / 3600) if elapsed > 0 else 0.0
        return (
            f"progress: {self.videos}/{self.total_videos} videos, "
            f"{self.answers + self.failures}/{self.total_items} items "
            f"({self.answers} answers, {self.failures} failures), "
            f"{self.video_seconds / 3600:.3f} h of video in {elapsed:.0f} s ({rate:.1f} video-h/h)"
        )

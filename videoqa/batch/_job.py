"""``run_job``: list the bucket, skip finished items, stream the units through Ray Data, summarise."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any, NamedTuple

from videoqa.batch._config import JobConfig
from videoqa.batch._inputs import list_videos, match_questions, read_questions
from videoqa.batch._local_ray import join_ray, local_ray
from videoqa.batch._pipeline import STAGES, gpu_actor_env
from videoqa.batch._progress import JobSummary, Progress
from videoqa.batch._resume import read_resume_state, repair_stale_failures
from videoqa.batch._stages import _fail, make_unit, write_outputs
from videoqa.batch._windows import WindowBoard
from videoqa.batch._writer import drop_rows
from videoqa.core._progress import Progress as Bars
from videoqa.records import Failure, item_key, question_hash

__all__ = ["PlannedUnits", "gpu_actor_env", "plan_units", "run_job", "run_planned"]

logger = logging.getLogger("videoqa.batch")

ONE_ROW_BLOCK_BYTES = 1
"""The job's ``target_max_block_size``: any row exceeds it, so Ray Data stores each row as its own block."""


class PlannedUnits(NamedTuple):
    """What :func:`plan_units` found to do."""

    units: list[dict[str, Any]]
    """One row per video with pending questions (see ``_stages.make_unit``)."""
    total_items: int
    """(video, question) items in scope."""
    skipped_items: int
    """Items already written, skipped by ``--resume``."""
    unmatched_questions: list[str]
    """Question ids whose ``videos`` selector matched no video."""


def plan_units(config: JobConfig) -> PlannedUnits:
    """The units (video + pending questions) of a job.

    Reads what ``config.output`` already holds (one scan per table): a compaction that crashed is
    finished first; failures rows of answered items (stale rows) are removed, answers being
    authoritative; rows of the pending items in files other than their video's part files
    (compacted files) are removed, so that re-running an item replaces its row.
    """
    from videoqa.batch._compact import finish_compaction
    from videoqa.core._cache import VisualCache

    if config.cache_dir is not None:
        VisualCache(config.cache_dir)  # a file there is a clear error now, not a failure per item
    videos = list_videos(
        config.videos, storage_options=config.storage_options, extensions=config.video_extensions
    )
    questions = read_questions(config.questions, storage_options=config.storage_options)
    pairs, unmatched = match_questions(videos, questions)
    finish_compaction(config.output, storage_options=config.storage_options)
    state = read_resume_state(config.output, storage_options=config.storage_options)
    repaired = repair_stale_failures(config.output, state, storage_options=config.storage_options)
    if repaired:
        logger.warning("removed %d stale failures rows of items that have an answers row", repaired)
    done = state.done(retry_failed=config.retry_failed) if config.resume else set()
    cfg = config.config_hash
    units, total, skipped, elsewhere = [], 0, 0, {}
    for video, qs in pairs:
        keys = [item_key(video.url, q.question_id, question_hash(q), cfg) for q in qs]
        pending = [q for q, k in zip(qs, keys, strict=True) if k not in done]
        total += len(qs)
        skipped += len(qs) - len(pending)
        if pending:
            pending_keys = sorted(k for k in keys if k not in done)
            unit_key = hashlib.sha256("\n".join(pending_keys).encode()).hexdigest()[:16]
            for rel, ks in state.elsewhere(pending_keys, video.url).items():
                elsewhere.setdefault(rel, set()).update(ks)
            units.append(make_unit(unit_key, video.url, video.video_id, pending))
    if elsewhere:
        logger.info("removing earlier rows of %d items to re-run", len(set().union(*elsewhere.values())))
        drop_rows(config.output, elsewhere, storage_options=config.storage_options)
    return PlannedUnits(units, total, skipped, unmatched)


@contextlib.contextmanager
def _ray_session(config: JobConfig) -> Iterator[None]:
    """Use the Ray of this process, join ``config.address`` (or ``$RAY_ADDRESS``), or start a local Ray.

    Without an address the run never joins the cluster Ray's address file names (a stale file
    would make ``ray.init()`` retry for minutes): it starts a new local Ray, on loopback only and
    reaped if the driver dies (:func:`videoqa.batch._local_ray.local_ray`).
    """
    import ray

    if ray.is_initialized():
        yield
        return
    # `ray job submit` sets RAY_ADDRESS for its entry point: join that cluster (read at call time).
    address = config.address or os.environ.get("RAY_ADDRESS")
    if not address:
        with local_ray(num_cpus=config.local_num_cpus, object_store_bytes=config.local_object_store_bytes):
            yield
        return
    join_ray(address)
    try:
        yield
    finally:
        ray.shutdown()


def _gpus_per_replica(config: JobConfig) -> float:
    import ray

    if config.gpus_per_replica is not None:
        return config.gpus_per_replica
    return 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0


def _build_dataset(config: JobConfig, units: list[dict[str, Any]], tracker: Any, board: Any) -> Any:
    """The job's dataset: the units through every declared stage (:data:`videoqa.batch._pipeline.STAGES`)."""
    import ray
    from ray.data import DataContext

    context = DataContext.get_current()
    context.enable_progress_bars = False  # the job logs its own progress lines
    context.enable_auto_log_stats = False
    handles = {"config_json": config.model_dump_json(), "tracker": tracker, "board": board}
    gpus = _gpus_per_replica(config)
    logger.info(
        "videoqa run: %d videos, model %s on %d replica(s) x %s GPU, %d decode workers",
        len(units), config.model, config.replicas, gpus, config.decode_workers,
    )  # fmt: skip
    # One unit per block, and every block a single row: Ray Data buffers a task's output rows into
    # blocks of up to target_max_block_size (128 MiB by default) before storing them, which would
    # keep several decoded windows of a video in one decode task. The job's rows are either one
    # window or small, so a block per row costs nothing.
    ds = ray.data.from_items(units, override_num_blocks=len(units))
    ds.context.target_max_block_size = ONE_ROW_BLOCK_BYTES
    for stage in STAGES:
        ds = stage.apply(ds, config=config, handles=handles, gpus=gpus)
    return ds


def run_job(config: JobConfig, *, progress: bool | None = False) -> JobSummary:
    """Run a batch job to completion and return its summary.

    Every (video, question) in scope ends with exactly one answers row or one failures row under
    ``config.output``. Raises only for bad inputs (listing, questions file) or unwritable output.
    ``progress``: a bar of the items answered on stderr (``None``: only when it is a terminal).
    """
    started = time.perf_counter()
    return run_planned(config, plan_units(config), started=started, progress=progress)


def run_planned(
    config: JobConfig, planned: PlannedUnits, *, started: float, progress: bool | None = False
) -> JobSummary:
    """Run the units :func:`plan_units` planned; ``started`` (``time.perf_counter()``) opens the wall time.

    Callers that report bad inputs (``videoqa run``) plan first, so that only planning errors are
    input errors and nothing raised while the job runs is mistaken for one.
    """
    import ray

    from videoqa.batch._guard import AttemptTracker

    units, total, skipped, unmatched = planned
    if unmatched:
        logger.warning("questions matching no video (check their 'videos' selector): %s", unmatched[:10])
    logger.info(
        "%d items in scope, %d already written (skipped), %d videos to process", total, skipped, len(units)
    )
    bars = Bars(progress)
    bars.stage("job")
    counts = Progress(
        total_videos=len(units),
        total_items=total - skipped,
        interval_seconds=config.progress_interval_seconds,
        bar=bars.bar(total - skipped, unit="item", done="answered"),
    )
    with contextlib.closing(counts.bar):
        if units:
            with _ray_session(config):
                actor = ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)
                name = uuid.uuid4().hex[:12]
                tracker = actor(AttemptTracker).options(name=f"videoqa-attempts-{name}").remote()
                board = actor(WindowBoard).options(name=f"videoqa-windows-{name}").remote()
                try:
                    _run_units(config, units, tracker, board, counts)
                finally:
                    ray.kill(tracker)
                    ray.kill(board)
    return _summary(config, counts, total, skipped, unmatched, time.perf_counter() - started)


def _run_units(
    config: JobConfig, units: list[dict[str, Any]], tracker: Any, board: Any, progress: Progress
) -> None:
    """Stream the units through the stages; units that came back without a row run again.

    A unit's row comes from the model call that brings its last window; a window board that was
    restarted (its node lost) has forgotten the windows it held, so those units never complete
    in that pass. They run again, up to ``max_attempts`` passes, then become failure rows.
    """
    pending = units
    for _ in range(config.max_attempts):
        ds = _build_dataset(config, pending, tracker, board)
        finished = set()
        for row in ds.iter_rows():
            progress.update(row)
            finished.add(row["unit_key"])
        progress.record_decode_blocks(_decode_block_stats(ds))
        pending = [u for u in pending if u["unit_key"] not in finished]
        if not pending:
            return
        logger.warning(
            "%d videos lost windows they had sent (a restarted actor?); running them again", len(pending)
        )
    for unit in pending:
        message = (
            f"{unit['video']}: its windows were lost {config.max_attempts} times (model replicas or the "
            "job's window board restarted, e.g. lost nodes); run again with --resume --retry-failed"
        )
        lost = Failure(stage="model", error_type="WindowsLost", error=message, transient=True,
                       attempts=config.max_attempts)  # fmt: skip
        progress.update(write_outputs(_fail(unit, lost), config_json=config.model_dump_json()))


_DECODE_STAGE = "decode_clips"


def _decode_block_stats(ds: Any) -> tuple[int, int, int]:
    """(blocks, most rows in a block, largest block in bytes) the decode stage produced, from Ray Data's
    own execution stats of ``ds`` (the run that just ended)."""
    pending = [ds._get_stats_summary()]
    while pending:
        summary = pending.pop()
        for op in summary.operators_stats:
            if _DECODE_STAGE in op.operator_name and op.output_num_rows is not None:
                rows, size = op.output_num_rows, op.output_size_bytes
                return rows.count, int(rows.max), int(size.max)
        pending += summary.parents
    logger.warning("Ray Data's stats hold no decode operator; the summary's decode block figures are 0")
    return 0, 0, 0


_COUNTED = (
    "videos", "videos_failed", "answers", "no_event", "prompt_tokens", "reused_prompt_tokens", "failures",
    "spans", "model_calls", "decode_seconds", "model_seconds", "failure_types", "decode_blocks",
    "decode_block_max_rows", "decode_block_max_bytes",
)  # fmt: skip
"""The :class:`JobSummary` fields that :class:`Progress` counts under the same name."""


def _summary(
    config: JobConfig, progress: Progress, total: int, skipped: int, unmatched: list[str], wall: float
) -> JobSummary:
    hours = progress.video_seconds / 3600
    return JobSummary(
        output=config.output.rstrip("/"),
        model_id=config.model,
        config_hash=config.config_hash,
        video_hours=hours,
        questions=total,
        skipped=skipped,
        unmatched_questions=unmatched,
        wall_seconds=wall,
        video_hours_per_hour=hours / (wall / 3600) if wall > 0 else 0.0,
        **{name: getattr(progress, name) for name in _COUNTED},
    )

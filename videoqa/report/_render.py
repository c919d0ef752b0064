"""The two entry points: a job's ``report.html`` and the page of one :class:`~videoqa.Analysis`."""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from videoqa.report._job import build_job_view, read_job_tables
from videoqa.report._view import (
    VideoView,
    answer_view,
    attach_thumbnails,
    lane_color,
    render_page,
    video_timeline,
)

if TYPE_CHECKING:
    from videoqa.analysis import Analysis

__all__ = ["render_analysis_html", "render_job_html", "render_job_report"]

logger = logging.getLogger(__name__)

DEFAULT_MAX_THUMBNAIL_SPANS = 24
"""Per video: spans whose first and last frames are decoded (an events answer can have hundreds)."""


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def render_job_html(
    output_dir: str,
    *,
    thumbnails: bool = True,
    max_thumbnail_spans: int = DEFAULT_MAX_THUMBNAIL_SPANS,
    storage_options: dict[str, Any] | None = None,
) -> str:
    """The report page of the job whose output is ``output_dir``, as one self-contained HTML string."""
    job = build_job_view(output_dir, read_job_tables(output_dir, storage_options=storage_options))
    for video in job.videos:
        if thumbnails and video.answers:
            logger.info("Thumbnails for %s", video.video)
            attach_thumbnails(video, max_spans=max_thumbnail_spans, storage_options=storage_options)
        video.timeline = video_timeline(video)
    return render_page("job.html", job=job, generated=_now(), thumbnails=thumbnails)


def render_job_report(
    output_dir: str,
    *,
    report_path: str | None = None,
    thumbnails: bool = True,
    max_thumbnail_spans: int = DEFAULT_MAX_THUMBNAIL_SPANS,
    storage_options: dict[str, Any] | None = None,
) -> str:
    """Write ``report.html`` for the job output ``output_dir`` (a folder or an fsspec URL).

    Args:
        output_dir: the ``--output`` of a videoqa job, holding its Parquet tables.
        report_path: where to write the page; default ``<output_dir>/report.html``.
        thumbnails: decode the frames at each span's start and end (needs the videos to be readable;
            a missing or broken video gets a placeholder and a note, never an error).
        max_thumbnail_spans: thumbnails for at most this many spans per video.
        storage_options: fsspec options for the output and the videos (e.g. S3 credentials).
    Returns:
        The path or URL of the written page.
    """
    import fsspec

    html = render_job_html(
        output_dir,
        thumbnails=thumbnails,
        max_thumbnail_spans=max_thumbnail_spans,
        storage_options=storage_options,
    )
    path = report_path or f"{str(output_dir).rstrip('/')}/report.html"
    with fsspec.open(path, "w", encoding="utf-8", **(storage_options or {})) as handle:
        handle.write(html)
    return path


def _analysis_view(analysis: Analysis) -> VideoView:
    return VideoView(
        video=analysis.video,
        video_id=analysis.video,
        duration_seconds=analysis.video_duration_seconds,
        start_seconds=analysis.video_start_seconds,
        answers=[answer_view(analysis, color=lane_color(0))],
    )


def render_analysis_html(
    analysis: Analysis,
    *,
    thumbnails: bool = True,
    max_thumbnail_spans: int = DEFAULT_MAX_THUMBNAIL_SPANS,
    storage_options: dict[str, Any] | None = None,
) -> str:
    """The page of one analysis: answer, spans on a timeline, and each coarse-to-fine step.

    The timeline has a lane for the final spans and one lane per step showing the windows
    that step looked at (and the spans it found); a table lists each window's fps and tokens
    and the model's text for each step.
    """
    video = _analysis_view(analysis)
    if thumbnails:
        attach_thumbnails(video, max_spans=max_thumbnail_spans, storage_options=storage_options)
    video.timeline = video_timeline(video, with_steps=True)
    return render_page(
        "analysis.html",
        analysis=analysis,
        video=video,
        answer=video.answers[0],
        generated=_now(),
        thumbnails=thumbnails,
    )

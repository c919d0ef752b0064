"""The "with subtitles" setting of an evaluation (``--subtitles-dir``): each video's subtitle file, in
the benchmark's official layout, handed to the batch job, which reads it with
:func:`videoqa.text.load_cues` and writes its cues into every prompt of that video in the model
family's timed-text layout (:mod:`videoqa.text._layout`), as for any job.

The benchmark's declaration finds each video's file (``Benchmark.subtitles_for``): a path the text
channel reads (``.srt``/``.vtt``/``.ass``) is passed as is; cues read from another format (e.g.
LongVideoBench's JSON) are written as SubRip under ``<output>/job_inputs/subtitles/``. The job gets
``subtitle_map`` (``<output>/job_inputs/subtitle_map.json``, ``{video URL: subtitle file}``) and no
other subtitles (``subtitles=None`` unless the job settings say otherwise), so a video without a
file is asked without text.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from videoqa.text import format_srt

__all__ = ["find_subtitles", "write_subtitle_map"]


def find_subtitles(
    declared: Any, folder: str, items: Sequence[Any], urls: Mapping[str, str]
) -> dict[str, Any]:
    """video id -> its subtitle file or cues, for the videos found whose benchmark has one in ``folder``."""
    if declared.subtitles_for is None:
        raise ValueError(f"{declared.name} has no subtitles to read from {folder!r}")
    found: dict[str, Any] = {}
    for item in items:
        if item.video_id in urls and item.video_id not in found:
            source = declared.subtitles_for(item, folder)
            if source is not None:
                found[item.video_id] = source
    return found


def write_subtitle_map(
    config: Any, subtitles: Mapping[str, Any], urls: Mapping[str, str], *, write: Callable[..., None]
) -> dict[str, Any]:
    """Write the job's subtitle map (and SubRip files for cues) with ``write(url, text, storage_options)``;
    the JobConfig fields that use it."""
    folder = posixpath.join(config.output.rstrip("/"), "job_inputs")
    opts = config.job.get("storage_options")
    files = {}
    for video_id, source in subtitles.items():
        if isinstance(source, str):
            files[urls[video_id]] = source
        else:
            path = posixpath.join(folder, "subtitles", f"{video_id}.srt")
            write(path, format_srt((c.start_seconds, c.end_seconds, c.text) for c in source.cues), opts)
            files[urls[video_id]] = path
    map_path = posixpath.join(folder, "subtitle_map.json")
    write(map_path, json.dumps(files, indent=1) + "\n", opts)
    return {"subtitle_map": map_path, **({} if "subtitles" in config.job else {"subtitles": None})}

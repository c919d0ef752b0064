"""A subtitle file per video (``JobConfig.subtitle_map``), for benchmarks whose subtitles sit in a
folder of their own (Video-MME's ``subtitle/<videoID>.srt``) instead of next to each video.

The map is a JSON object ``{video: subtitle file}`` or a CSV / JSONL / Parquet table with the
columns ``video`` and ``subtitles``; ``video`` is the video's URL as the job lists it or its video
id; a relative subtitle path is taken from the map's folder. Videos the map does not name keep
``JobConfig.subtitles``. The map is read once per process.
"""

from __future__ import annotations

import functools
import json
import posixpath
from typing import Any

__all__ = ["subtitles_of"]


@functools.lru_cache(maxsize=4)
def _read_map(path: str, storage_options_json: str) -> dict[str, str]:
    import fsspec

    from videoqa.batch._inputs import _read_rows

    fs, root = fsspec.core.url_to_fs(path, **json.loads(storage_options_json))
    if root.lower().endswith(".json"):
        with fs.open(root, "rt", encoding="utf-8") as f:
            data = json.load(f)
        if not isinstance(data, dict):
            raise ValueError(f"subtitle_map {path!r}: a .json map must be an object {{video: subtitle file}}")
        pairs = [(str(k), str(v)) for k, v in data.items()]
    else:
        rows = _read_rows(fs, root)
        if rows and not {"video", "subtitles"} <= set(rows[0]):
            raise ValueError(
                f"subtitle_map {path!r} needs the columns video and subtitles; it has {sorted(rows[0])}"
            )
        pairs = [(str(r["video"]), str(r["subtitles"])) for r in rows if r.get("subtitles")]
    base = posixpath.dirname(path)
    return {k: v if "://" in v or v.startswith("/") else posixpath.join(base, v) for k, v in pairs}


def subtitles_of(video: str, video_id: str, config: Any) -> str | None:
    """The ``subtitles`` argument of :func:`videoqa.text.load_cues` for one video of the job."""
    if not config.subtitle_map:
        return config.subtitles
    found = _read_map(config.subtitle_map, json.dumps(config.storage_options or {}, sort_keys=True))
    return found.get(video) or found.get(video_id) or config.subtitles

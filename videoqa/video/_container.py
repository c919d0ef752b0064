"""Opening a container with PyAV and telling broken files apart, with typed errors.

FFmpeg says little more than "Invalid data" for an empty file, a text file and an mp4 whose
``moov`` box was never written. A few cheap structural checks on the raw bytes (the mp4 box
layout, the Matroska segment size) tell these apart, so each gets the error that says what to do.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Iterator
from typing import TYPE_CHECKING

from videoqa.errors import (
    DecodeError,
    EmptyVideoError,
    MediaError,
    NotAVideoError,
    NoVideoStreamError,
    SourceIOError,
    TruncatedVideoError,
)
from videoqa.video._source import OpenSource

if TYPE_CHECKING:
    import av.container
    import av.video.stream

__all__ = ["media_errors", "open_container", "structural_problem", "video_stream"]

_EBML_MAGIC = b"\x1a\x45\xdf\xa3"
_MATROSKA_SEGMENT = b"\x18\x53\x80\x67"
_MP4_TOP_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"uuid", b"moof", b"mfra", b"sidx"}
_MAX_TOP_BOXES = 4096


def open_container(src: OpenSource) -> av.container.InputContainer:
    """``av.open`` the source, or raise the typed error that fits what is wrong with it."""
    import av

    if src.size == 0:
        raise EmptyVideoError(src.name, "the file is empty (0 bytes); re-download or re-export it")
    try:
        container = av.open(src.target, mode="r", metadata_errors="ignore")
    except av.error.FileNotFoundError as exc:
        raise SourceIOError(src.name, f"the file disappeared while opening it: {exc}") from exc
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        truncation = structural_problem(src)
        if truncation is not None:
            raise TruncatedVideoError(src.name, truncation) from exc
        if _is_known_container(src.read_head(16)):
            raise TruncatedVideoError(
                src.name, f"the container header cannot be read ({exc}); the file is damaged"
            ) from exc
        raise NotAVideoError(
            src.name, f"FFmpeg cannot read this as a media file ({exc}); check that it is a video"
        ) from exc
    except OSError as exc:
        raise SourceIOError(src.name, f"reading failed while opening: {exc}") from exc
    try:
        problem = structural_problem(src)
    except BaseException:  # close the container whatever went wrong, then let the error through
        container.close()
        raise
    if problem is not None:
        container.close()
        raise TruncatedVideoError(src.name, problem)
    return container


@contextlib.contextmanager
def media_errors(name: str, *, doing: str) -> Iterator[None]:
    """Raise PyAV and OS errors of the block as typed errors naming the file ``name``.

    FFmpeg failures become :class:`DecodeError` (a damaged stream: re-encode the file), OS
    errors :class:`SourceIOError` (transient: a retry may help); videoqa's own errors pass through.
    """
    import av

    try:
        yield
    except MediaError:
        raise
    except av.error.FFmpegError as exc:
        raise DecodeError(name, f"{doing} failed: {exc}; the stream is damaged, re-encode the file") from exc
    except OSError as exc:
        raise SourceIOError(name, f"reading failed while {doing}: {exc}; retry later") from exc


def video_stream(
    container: av.container.InputContainer, name: str, *, index: int | None = None
) -> av.video.stream.VideoStream:
    """The video stream to read: stream ``index`` of the file, or (None) the one FFmpeg calls best.

    FFmpeg's rule (``av_find_best_stream``, as ffmpeg, ffprobe's default, torchcodec and decord use it):
    the stream with the default disposition and no hearing/visual-impaired flag, then the one with
    more probe frames (up to 5), then the higher bit rate; the first of equals. Cover art
    (``attached_pic``) is never a video: when FFmpeg's pick is one, the rule runs over the others
    (disposition, then bit rate: PyAV does not expose the probe frame counts).
    """
    import av

    pic = av.stream.Disposition.attached_pic
    streams = [s for s in container.streams.video if not (s.disposition & pic)]
    if index is not None:
        chosen = [s for s in streams if s.index == index]
        if chosen:
            return chosen[0]
        raise NoVideoStreamError(
            name,
            f"video_stream={index} is not a video stream of this file; its video streams are "
            f"{[s.index for s in streams]} (leave video_stream unset for FFmpeg's best one)",
        )
    if streams:
        best = container.streams.best("video")
        if best is not None and not (best.disposition & pic):
            return best
        return max(streams, key=lambda s: (_disposition_score(s), s.codec_context.bit_rate or 0, -s.index))
    kinds = sorted({s.type for s in container.streams})
    if container.streams.video:
        what = "only a cover-art picture (attached_pic) besides " + (
            ", ".join(k for k in kinds if k != "video")
        )
    else:
        what = "only " + (", ".join(kinds) if kinds else "no streams at all")
    raise NoVideoStreamError(name, f"no video stream: the file holds {what}; pass a video file")


def _disposition_score(stream: av.video.stream.VideoStream) -> int:
    import av

    flags = stream.disposition
    impaired = av.stream.Disposition.hearing_impaired | av.stream.Disposition.visual_impaired
    return int(not (flags & impaired)) + int(bool(flags & av.stream.Disposition.default))


def _is_known_container(head: bytes) -> bool:
    return head[:4] == _EBML_MAGIC or head[4:8] in _MP4_TOP_BOXES


def structural_problem(src: OpenSource) -> str | None:
    """A sentence saying how the file is cut short, or None when its structure looks whole."""
    if not src.size:
        return None
    head = src.read_head(64)
    if head[:4] == _EBML_MAGIC:
        return _matroska_problem(head, src.size)
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide"):
        return _mp4_problem(src)
    return None


def _mp4_problem(src: OpenSource) -> str | None:
    """Walk the top-level boxes by their sizes: a box running past the end, or no moov, is truncation."""
    if src.size is None:
        return None  # size unknown: nothing to check the boxes against
    offset, seen = 0, set()
    for _ in range(_MAX_TOP_BOXES):
        if offset + 8 > src.size:
            break
        header = src.read_at(offset, 16)
        size, kind = struct.unpack_from(">I4s", header)
        if size == 1 and len(header) == 16:
            size = struct.unpack_from(">Q", header, 8)[0]
        elif size == 0:
            size = src.size - offset
        if size < 8 or not all(32 <= byte < 127 for byte in kind):
            return None  # not a box layout we understand: leave the verdict to FFmpeg
        seen.add(kind)
        if offset + size > src.size:
            return (
                f"the file is truncated: its '{kind.decode()}' box needs {offset + size} bytes "
                f"but the file has {src.size}; re-download or re-export it"
            )
        offset += size
    else:
        return None  # too many boxes to walk cheaply
    if b"moov" not in seen and b"moof" not in seen:
        return "the mp4 has no 'moov' box (the recording or upload was interrupted); re-export it"
    return None


def _read_vint(data: bytes, at: int) -> tuple[int, int, bool]:
    """An EBML variable-size integer: (value, length, all-ones i.e. 'unknown size')."""
    first = data[at]
    length = 1
    while length <= 8 and not first & (0x80 >> (length - 1)):
        length += 1
    value = first & (0xFF >> length)
    for byte in data[at + 1 : at + length]:
        value = (value << 8) | byte
    return value, length, value == (1 << (7 * length)) - 1


def _matroska_problem(head: bytes, size: int) -> str | None:
    try:
        header_size, n, _ = _read_vint(head, 4)
        segment_at = 4 + n + header_size
        if head[segment_at : segment_at + 4] != _MATROSKA_SEGMENT:
            return None
        segment_size, n, unknown = _read_vint(head, segment_at + 4)
    except IndexError:
        return None
    if unknown:
        return None  # live-written Matroska has no size to check
    end = segment_at + 4 + n + segment_size
    if end > size:
        return (
            f"the file is truncated: its Matroska segment needs {end} bytes but the file has {size}; "
            "re-download or re-export it"
        )
    return None

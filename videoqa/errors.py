"""The one error hierarchy of videoqa.

Every error names the thing that is wrong (usually the file) and what to do next.
``transient`` tells batch jobs whether a retry can help: only I/O hiccups and
worker deaths are worth retrying, never a broken file or a bad argument.
"""

from __future__ import annotations

__all__ = [
    "DecodeError",
    "DecodeTimeoutError",
    "DeviceFailedError",
    "EmptyVideoError",
    "MediaError",
    "MissingExtraError",
    "ModelError",
    "ModelOutOfMemoryError",
    "NoVideoStreamError",
    "NotAVideoError",
    "SourceAccessError",
    "SourceIOError",
    "SourceUnreachableError",
    "SubtitleError",
    "TruncatedVideoError",
    "UnsupportedVideoError",
    "VideoNotFoundError",
    "VideoQAError",
]


class VideoQAError(Exception):
    """Base class of every error videoqa raises on purpose."""

    transient: bool = False
    process_fatal: bool = False
    """True when the process cannot go on after this error (a batch worker exits so Ray replaces it)."""


class MediaError(VideoQAError):
    """A video could not be opened or decoded. ``source`` names the file or URL."""

    def __init__(self, source: object, message: str):
        self.source = str(source)
        super().__init__(f"{self.source}: {message}")


class VideoNotFoundError(MediaError, FileNotFoundError):
    """The path or URL does not exist."""


class SourceIOError(MediaError):
    """Reading the bytes failed (network, bucket, filesystem): worth a retry."""

    transient = True


class SourceUnreachableError(SourceIOError):
    """The host, bucket endpoint or filesystem did not answer (connection refused or reset, unknown
    host, timeout): nothing is known about the object, so it is not reported missing; worth a retry."""


class SourceAccessError(MediaError):
    """The source cannot be reached as asked (missing credentials, denied access, an unsupported
    protocol): a retry cannot help until the settings change."""


class UnsupportedVideoError(MediaError, ValueError):
    """A valid video the model cannot take (frames more elongated than 200:1)."""


class EmptyVideoError(MediaError):
    """The file has zero bytes or no decodable frames."""


class NotAVideoError(MediaError):
    """The bytes are not a media container FFmpeg can read."""


class NoVideoStreamError(MediaError):
    """The container holds no video stream (audio only, or only cover art)."""


class TruncatedVideoError(MediaError):
    """The file ends early or lacks its index (for example an mp4 without a moov atom)."""


class SubtitleError(MediaError, ValueError):
    """A subtitle file or stream cannot be read: ``source`` names it, ``line`` the 1-based line (or None)."""

    def __init__(self, source: object, message: str, *, line: int | None = None):
        self.line = line
        where = f" line {line}" if line is not None else ""
        super().__init__(f"{source}{where}" if where else source, message)
        self.source = str(source)


class DecodeError(MediaError):
    """The decoder failed on a file that opened correctly."""


class DecodeTimeoutError(DecodeError):
    """The decoder did not finish in time (a hung native decoder was abandoned)."""

    transient = True


class ModelError(VideoQAError):
    """A model could not be loaded or run."""


class ModelOutOfMemoryError(ModelError):
    """One request does not fit the device even alone: a smaller budget is needed, not a retry."""


class DeviceFailedError(ModelError):
    """The GPU is in an unrecoverable state (device-side assert, illegal memory access).

    Every later call in this process fails too: a batch job restarts the model actor.
    """

    process_fatal = True


class MissingExtraError(VideoQAError, ImportError):
    """An optional dependency is missing; the message gives the exact pip command."""

    def __init__(self, *, feature: str, extra: str, module: str):
        self.extra = extra
        super().__init__(
            f"{feature} needs the optional package '{module}', which is not installed. "
            f"Install it with: pip install 'videoqa[{extra}]'"
        )

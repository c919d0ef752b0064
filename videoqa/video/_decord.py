"""The decord decoding backend (``pip install 'videoqa[decord]'``), run in a killable subprocess.

decord can deadlock inside native code while holding the GIL (dmlc/decord#373: the header
promises more frames than the file holds), which no signal can interrupt. So decord never runs
in the caller's process: a worker (``python -m videoqa.video._decord``) serves one request per
window over a pipe, and a window that takes longer than ``timeout_seconds`` kills the worker and
raises :class:`~videoqa.errors.DecodeTimeoutError`.

The contract is the pyav backend's: frames are chosen by time (the frame on screen at each
target), ``pts_seconds`` are true pts (from the container's packets, since decord's own
timestamps are float32 and start-relative), rotation is applied (decord 0.6 does it itself; older
notes say it did not, so the tests check it on rotated files). Broken files
get the same typed errors, because the source is probed with PyAV first. URLs are first copied to
a local temporary file (decord reads only paths).
"""

from __future__ import annotations

import bisect
import contextlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from videoqa.errors import DecodeError, DecodeTimeoutError, MissingExtraError, UnsupportedVideoError
from videoqa.video._source import open_source
from videoqa.video._types import Clip, SamplingPlan

__all__ = ["decode_decord"]

_EPS = 1e-6
_STARTUP_TIMEOUT_SECONDS = 60.0


def _decord_available() -> bool:
    return importlib.util.find_spec("decord") is not None


def decode_decord(
    source: str | os.PathLike[str],
    plan: SamplingPlan,
    *,
    num_threads: int,
    storage_options: dict[str, Any] | None,
    timeout_seconds: float,
) -> Iterator[Clip]:
    """Generator behind :func:`videoqa.decode` for ``backend="decord"`` (checks the extra eagerly)."""
    if not _decord_available():
        raise MissingExtraError(feature="decode(backend='decord')", extra="decord", module="decord")
    if timeout_seconds <= 0:
        raise ValueError(f"timeout_seconds must be positive, got {timeout_seconds}")

    def clips() -> Iterator[Clip]:
        from videoqa.video._probe import probe

        info = probe(source, storage_options=storage_options)  # typed errors for broken files
        if plan.stream_index is not None and plan.stream_index != info.stream_index:
            raise UnsupportedVideoError(
                info.source,
                f"decord reads only FFmpeg's best video stream ({info.stream_index}), not stream "
                f"{plan.stream_index}; decode that stream with decode_backend='pyav'",
            )
        with _local_copy(source, storage_options) as path:
            worker = _Worker(path, info.source, num_threads, timeout_seconds)
            try:
                for window in plan.windows:
                    # decord 0.6 applies the display matrix itself and takes the size as displayed
                    # (tests/test_decode_decord.py checks 90/180/270 against the drawn frame index).
                    request = ("window", list(window.pts_seconds), window.height, window.width)
                    frames, pts, warnings, far = worker.request(request)
                    yield Clip(
                        window=window, frames=frames, pts_seconds=pts, warnings=warnings, stale_targets=far
                    )
            finally:
                worker.close()

    return clips()


@contextlib.contextmanager
def _local_copy(source: str | os.PathLike[str], storage_options: dict[str, Any] | None) -> Iterator[str]:
    with open_source(source, storage_options=storage_options) as src:
        if isinstance(src.target, str):
            yield src.target
            return
        with tempfile.TemporaryDirectory(prefix="videoqa-decord-") as tmp:
            path = Path(tmp) / Path(src.name.split("?", 1)[0]).name
            with open(path, "wb") as out:
                shutil.copyfileobj(src.target, out, length=8 << 20)
            yield str(path)


class _Worker:
    """A decord subprocess answering one request at a time; killed when it overruns."""

    def __init__(self, path: str, name: str, num_threads: int, timeout_seconds: float):
        self.name, self.timeout_seconds = name, timeout_seconds
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "videoqa.video._decord", str(to_child_r), str(from_child_w)],
            pass_fds=(to_child_r, from_child_w),
            stdin=subprocess.DEVNULL,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self.to_child = Connection(to_child_w, readable=False)
        self.from_child = Connection(from_child_r, writable=False)
        self.request(
            ("open", path, num_threads), timeout_seconds=max(timeout_seconds, _STARTUP_TIMEOUT_SECONDS)
        )

    def request(self, message: tuple, *, timeout_seconds: float | None = None) -> Any:
        timeout = self.timeout_seconds if timeout_seconds is None else timeout_seconds
        try:
            self.to_child.send(message)
            ready = self.from_child.poll(timeout)
        except (BrokenPipeError, EOFError, OSError):
            ready = True  # the worker died: recv below reports it
        if not ready:
            self.close()
            raise DecodeTimeoutError(
                self.name,
                f"decord did not answer within {timeout:g} s (a hung decoder was killed); "
                "retry, or use backend='pyav'",
            )
        try:
            status, payload = self.from_child.recv()
        except (EOFError, OSError) as exc:
            code = self.process.poll()
            self.close()
            raise DecodeError(self.name, f"the decord worker died (exit code {code})") from exc
        if status == "error":
            raise DecodeError(self.name, f"decord failed: {payload}")
        return payload

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.to_child.close()
        with contextlib.suppress(OSError):
            self.from_child.close()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


# ------------------------------------------------------------------------------------ worker side


class _Served:
    """Worker state: decord readers by size, and the file's true frame times."""

    def __init__(self, path: str, num_threads: int):
        import decord

        self.decord, self.path, self.num_threads = decord, path, num_threads
        self.readers: dict[tuple[int, int], Any] = {}
        self.starts, self.end = _frame_times(path)
        self.last_good: int | None = None  # the last frame that decodes, in a stream damaged to its end

    def reader(self, height: int, width: int) -> Any:
        if (height, width) not in self.readers:
            self.readers.clear()  # one at a time: decord readers hold decoder buffers
            ctx = self.decord.cpu(0)
            self.readers[height, width] = self.decord.VideoReader(
                self.path, ctx=ctx, num_threads=self.num_threads, width=width, height=height
            )
        return self.readers[height, width]

    def window(
        self, targets: list[float], height: int, width: int
    ) -> tuple[np.ndarray, np.ndarray, list[str], tuple[int, ...]]:
        reader = self.reader(height, width)
        warnings = []
        if len(reader) != len(self.starts):
            warnings.append(f"decord counts {len(reader)} frames, the packets {len(self.starts)}")
        chosen = [max(bisect.bisect_right(self.starts, t + _EPS) - 1, 0) for t in targets]
        chosen = [min(i, len(reader) - 1) for i in chosen]
        due = chosen  # the frame on screen at each target by the packets' times
        try:
            batch, unique = self._batch(reader, chosen)
        except self.decord.DECORDError:
            last = self._last_good(reader)  # damaged to the end: clamp to the last good frame
            if last is None or last >= max(chosen):
                raise
            batch, unique, last = self._batch_until(reader, chosen, last)
            chosen = [min(i, last) for i in chosen]
            lost = [k for k, i in enumerate(due) if i > last]
            warnings.append(
                f"frames from {self.starts[last + 1]:.3f} s on do not decode (damaged to the end): "
                f"{len(lost)} target(s) from {targets[lost[0]]:.3f} s show the last good frame "
                f"(pts {self.starts[last]:.3f} s)"
            )
        position = {index: k for k, index in enumerate(unique)}
        frames = batch[[position[i] for i in chosen]]
        past_end = [t for t in targets if t > self.end + _EPS]
        if past_end:
            warnings.append(
                f"the stream ends at {self.end:.3f} s, before {len(past_end)} target(s) from "
                f"{past_end[0]:.3f} s; repeated its last frame (pts {self.starts[chosen[-1]]:.3f} s)"
            )
        # decord hides damage elsewhere: only a tail that does not decode and the end are known
        pairs = enumerate(zip(targets, due, strict=True))
        far = tuple(k for k, (t, i) in pairs if t > self.end + _EPS or i != chosen[k])
        return frames, np.array([self.starts[i] for i in chosen], dtype=np.float64), warnings, far

    def _batch(self, reader: Any, chosen: list[int]) -> tuple[np.ndarray, list[int]]:
        unique = sorted(set(chosen))
        try:
            return reader.get_batch(unique).asnumpy(), unique
        finally:
            reader.seek(0)  # releases decord's read-ahead buffers (dmlc/decord#208)

    def _batch_until(self, reader: Any, chosen: list[int], last: int) -> tuple[np.ndarray, list[int], int]:
        """The batch with targets after frame ``last`` clamped to it; decord's frame threads decode a
        frame next to the damage now and then only, so ``last`` steps back until the batch decodes."""
        for back in (0, 1, 2, 4, 8, 16):
            good = max(last - back, 0)
            try:
                batch, unique = self._batch(reader, [min(i, good) for i in chosen])
            except self.decord.DECORDError:
                if good == 0:
                    raise
                continue
            self.last_good = good
            return batch, unique, good
        raise DecodeError(self.path, f"decord decodes no batch ending before frame {last}")

    def _last_good(self, reader: Any) -> int | None:
        """The last frame that decodes when the stream is damaged to its end (its last frame does not
        decode), found by bisection; None when the last frame decodes (damage elsewhere)."""
        if self.last_good is not None:
            return self.last_good

        def decodes(i: int) -> bool:
            try:
                self._batch(reader, [i])
            except self.decord.DECORDError:
                return False
            return True

        n = len(reader)
        if decodes(n - 1) or not decodes(0):
            return None
        low, high = 0, n - 1  # decodes(low), not decodes(high)
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if decodes(middle) else (low, middle)
        self.last_good = low
        return low


def _frame_times(path: str) -> tuple[list[float], float]:
    """True pts of every frame (from packets, no decoding) and where the last one ends."""
    import av

    from videoqa.video._container import video_stream

    with av.open(path) as container:
        stream = video_stream(container, path)  # the stream decord reads: FFmpeg's best one
        tb = stream.time_base
        packets = [
            (float(p.pts * tb), float((p.duration or 0) * tb)) for p in container.demux(stream) if p.size
        ]
    packets.sort()
    starts = [p for p, _ in packets]
    gap = starts[-1] - starts[-2] if len(starts) > 1 else 0.0
    return starts, starts[-1] + (packets[-1][1] or gap)


def _serve(read_fd: int, write_fd: int) -> None:
    inbox, outbox = Connection(read_fd, writable=False), Connection(write_fd, readable=False)
    served: _Served | None = None
    while True:
        try:
            message = inbox.recv()
        except EOFError:
            return
        try:
            if message[0] == "open":
                served = _Served(message[1], message[2])
                outbox.send(("ok", None))
            elif message[0] == "window" and served is not None:
                outbox.send(("ok", served.window(message[1], message[2], message[3])))
            elif message[0] == "sleep":  # lets tests check that a hung worker is killed
                time.sleep(message[1])
                outbox.send(("ok", None))
            else:
                outbox.send(("error", f"unexpected request {message[0]!r}"))
        except Exception as exc:  # the worker process must answer, not die: the parent raises DecodeError
            outbox.send(("error", f"{type(exc).__name__}: {exc}"))


if __name__ == "__main__":
    _serve(int(sys.argv[1]), int(sys.argv[2]))

"""Run one stage of one video so that nothing it does can take the job down.

- Exceptions become a :class:`~videoqa.records.Failure` (it ends up as ``failures`` rows); only transient ones
  (``VideoQAError.transient``, network/I/O ``OSError``) are retried, with backoff.
- A worker that dies (native crash, killed, out of memory) is retried by Ray; an
  :class:`AttemptTracker` actor counts the attempts across worker deaths, so a video that kills its
  worker every time becomes a failure after ``max_attempts`` instead of looping forever.
- An error that leaves the process unusable (``VideoQAError.process_fatal``: a GPU after a
  device-side assert or an illegal memory access) exits the worker, so Ray replaces it (a model
  actor is restarted with a fresh CUDA context) and the tracker counts the attempt as a death.
- A hung native call is killed: :func:`watchdog` arms ``faulthandler``'s C-level timer, which
  dumps the stack and exits the worker process even when the hung code holds the GIL; Ray then
  retries the task on a fresh worker and the tracker counts it.
"""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from videoqa._remote import unreachable_cause
from videoqa.errors import VideoQAError
from videoqa.records import Failure, Stage

__all__ = ["AttemptTracker", "Outcome", "guarded", "is_transient", "watchdog"]

logger = logging.getLogger(__name__)
_FATAL_EXIT_CODE = 70  # EX_SOFTWARE

_NOT_TRANSIENT_OS_ERRORS = (
    FileNotFoundError,
    FileExistsError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
)


class AttemptTracker:
    """Counts attempts per (stage, video) across worker deaths. Run as a Ray actor (``num_cpus=0``)."""

    def __init__(self) -> None:
        self._attempts: dict[str, int] = {}
        self._open: set[str] = set()

    def begin(self, key: str) -> tuple[int, bool]:
        """Start an attempt; returns (attempt number from 1, whether the previous attempt's worker died)."""
        died = key in self._open
        self._attempts[key] = self._attempts.get(key, 0) + 1
        self._open.add(key)
        return self._attempts[key], died

    def end(self, key: str) -> None:
        """The attempt returned (with a value or an exception): its worker did not die."""
        self._open.discard(key)

    def attempts(self) -> dict[str, int]:
        return dict(self._attempts)


def is_transient(error: BaseException) -> bool:
    """True for errors a retry can fix: flagged videoqa errors, network failures (found in the cause
    chain, also when a client library reports them as missing, e.g. fsspec's HTTP ``FileNotFoundError``)
    and I/O errors other than path errors (missing, existing, wrong kind or forbidden paths stay the
    same on a retry)."""
    if isinstance(error, VideoQAError):
        return error.transient
    if unreachable_cause(error) is not None:  # a network error in any client library's wrapping
        return True
    if isinstance(error, _NOT_TRANSIENT_OS_ERRORS):
        return False
    return isinstance(error, OSError)


@contextlib.contextmanager
def watchdog(timeout_seconds: float | None) -> Iterator[None]:
    """Exit this process if the block runs longer than ``timeout_seconds`` (use only in Ray workers)."""
    if timeout_seconds is None:
        yield
        return
    faulthandler.dump_traceback_later(timeout_seconds, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


def _exit_worker(reason: str) -> None:
    """End this worker process now (the attempt stays open, so the tracker sees a death)."""
    logger.error("exiting this worker so Ray replaces it: %s", reason)
    logging.shutdown()
    os._exit(_FATAL_EXIT_CODE)


@dataclass
class Outcome:
    value: Any = None
    failure: Failure | None = None
    attempts: int = 1


def guarded(
    stage: Stage,
    key: str,
    fn: Callable[[], Any],
    *,
    tracker: Any,
    max_attempts: int,
    timeout_seconds: float | None = None,
    backoff_seconds: float = 0.5,
) -> Outcome:
    """Call ``fn`` under the rules above; ``tracker`` is an :class:`AttemptTracker` actor handle."""
    import ray

    track = f"{stage}|{key}"
    while True:
        attempt, died = ray.get(tracker.begin.remote(track))
        if attempt > max_attempts:
            cause = "its worker died" if died else "it failed"
            message = (
                f"{key}: gave up on {stage} after {attempt - 1} attempts; on the last one {cause} "
                f"(a native crash, a hang past the {timeout_seconds} s stage timeout, or out of memory). "
                "Check the file with `videoqa analyze`, or raise stage_timeout_seconds / memory."
            )
            failure = Failure(
                stage=stage, error_type="WorkerDied", error=message, transient=True, attempts=attempt - 1
            )
            return Outcome(failure=failure, attempts=attempt - 1)
        try:
            with watchdog(timeout_seconds):
                value = fn()
        except Exception as exc:
            if getattr(exc, "process_fatal", False):
                _exit_worker(f"{key}: {stage}: {exc}")
            ray.get(tracker.end.remote(track))
            transient = is_transient(exc)
            if transient and attempt < max_attempts:
                time.sleep(backoff_seconds * 2 ** (attempt - 1))
                continue
            failure = Failure.from_exception(exc, stage=stage, attempts=attempt, transient=transient)
            return Outcome(failure=failure, attempts=attempt)
        tracker.end.remote(track)
        return Outcome(value=value, attempts=attempt)

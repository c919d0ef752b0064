"""Ends the local Ray processes of a run once its driver is gone (see :mod:`videoqa.batch._local_ray`).

Run as a script (``python -I _reaper.py PSUTIL_DIR PID:START_TIME ...``; ``PSUTIL_DIR`` holds the
psutil the driver imported, Ray's own copy on a base install), its stdin a pipe from the driver: the
pipe closes when the driver exits or is killed. Until then it follows the processes it was given and
their descendants (by PID and start time, so a reused PID is never touched); then it sends SIGTERM
to those still alive, and SIGKILL to those alive a few seconds later. Imports only the standard
library and psutil: it starts in a fraction of a second and never imports videoqa or Ray.
"""

from __future__ import annotations

import contextlib
import select
import signal
import sys

if __name__ == "__main__":
    sys.path.insert(0, sys.argv[1])

import psutil

POLL_SECONDS = 1.0
GRACE_SECONDS = 3.0


def _same(proc: psutil.Process, start_time: float) -> bool:
    try:
        return abs(proc.create_time() - start_time) < 0.05 and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _follow(tracked: dict[int, float]) -> None:
    """Add the living descendants of the tracked processes."""
    for pid, start_time in list(tracked.items()):
        try:
            proc = psutil.Process(pid)
            if not _same(proc, start_time):
                continue
            for child in proc.children(recursive=True):
                tracked.setdefault(child.pid, child.create_time())
        except psutil.Error:
            continue


def _alive(tracked: dict[int, float]) -> list[psutil.Process]:
    found = []
    for pid, start_time in tracked.items():
        try:
            proc = psutil.Process(pid)
        except psutil.Error:
            continue
        if _same(proc, start_time):
            found.append(proc)
    return found


def end_processes(tracked: dict[int, float]) -> None:
    """SIGTERM the tracked processes (and their descendants) still alive, SIGKILL them after a grace."""
    _follow(tracked)
    alive = _alive(tracked)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _, still = psutil.wait_procs(alive, timeout=GRACE_SECONDS)
    for proc in still:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(still, timeout=GRACE_SECONDS)


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tracked = {}
    for arg in argv:
        pid, _, start_time = arg.partition(":")
        tracked[int(pid)] = float(start_time)
    while True:
        ready, _, _ = select.select([sys.stdin], [], [], POLL_SECONDS)
        if ready and not sys.stdin.buffer.read1(4096):
            break
        _follow(tracked)
    end_processes(tracked)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[2:]))

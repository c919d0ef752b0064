"""The local Ray a run starts when it joins no cluster: loopback only, and gone with its driver.

- **Loopback only.** ``ray.init(_node_ip_address="127.0.0.1")`` alone does not do it: Ray turns a
  loopback node address into the machine's routable one unless its ``ENABLE_RAY_CLUSTER`` switch
  (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER``, read when ``ray`` is imported) is off, and every server of a
  node (GCS, raylet, object manager, workers, dashboard agent, runtime-env agent, metrics endpoints)
  binds to the node address (a routable one: all interfaces). The switch is turned off for the
  duration of ``ray.init`` so the node address stays 127.0.0.1, and the result is checked.
- **Gone with its driver.** Ray ties the processes the driver starts to it (they die with it), but
  the dashboard agent and the runtime-env agent are the raylet's children and stay alive, listening,
  after a ``kill -9`` of the driver (they hang reporting the raylet's death to the dead GCS). A small
  reaper process (:mod:`videoqa.batch._reaper`) follows the Ray processes this run started, by PID
  and start time, and ends those still alive when the driver's pipe closes (exit or crash).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["LOOPBACK", "is_loopback", "join_ray", "local_ray"]

logger = logging.getLogger("videoqa.batch")

LOOPBACK = "127.0.0.1"
_REAPER = Path(__file__).with_name("_reaper.py")


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and IPv4-mapped loopback (``::ffff:127.0.0.1``)."""
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host == "localhost"
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


@contextlib.contextmanager
def _node_address_kept() -> Iterator[None]:
    """Let ``ray.init`` keep a loopback ``_node_ip_address`` (see the module docstring)."""
    from ray._private import ray_constants

    saved = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved


def join_ray(address: str) -> None:
    """``ray.init(address=...)``, keeping this driver's node address on loopback when the cluster's is.

    A driver joining a Ray whose nodes listen on 127.0.0.1 (:func:`local_ray`, ``ray start
    --node-ip-address=127.0.0.1``) must call itself 127.0.0.1 too: otherwise Ray names this driver's
    node by the machine's routable address, finds no raylet there and waits for one, without end.
    """
    import ray

    host = address.rsplit(":", 1)[0].strip("[]") if ":" in address else address
    if not is_loopback(host):
        ray.init(address=address)
        return
    with _node_address_kept():
        ray.init(address=address, _node_ip_address=LOOPBACK)


def _children() -> dict[int, float]:
    import psutil

    found = {}
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            found[child.pid] = child.create_time()
    return found


@contextlib.contextmanager
def local_ray(*, num_cpus: int | None, object_store_bytes: int | None, **init_options: Any) -> Iterator[None]:
    """Start a local Ray for the block (see the module docstring); shut it down and reap it after.

    ``init_options`` go to ``ray.init`` as they are (``log_to_driver``, ``runtime_env``...).
    """
    import ray

    before = _children()
    try:
        with _node_address_kept():
            ray.init(
                address="local",
                num_cpus=num_cpus,
                object_store_memory=object_store_bytes,
                include_dashboard=False,
                _node_ip_address=LOOPBACK,
                **init_options,
            )
    except BaseException:  # e.g. "timed out during startup": end what this ray.init started
        from videoqa.batch._reaper import end_processes

        end_processes({pid: t for pid, t in _children().items() if before.get(pid) != t})
        raise
    reaper = None
    try:
        node_ip = ray.util.get_node_ip_address()
        if not is_loopback(node_ip):
            logger.warning(
                "the local Ray's node address is %s, not loopback: its servers listen on all "
                "interfaces (has this Ray version changed how it picks the node address?)",
                node_ip,
            )
        started = {pid: t for pid, t in _children().items() if before.get(pid) != t}
        reaper = _start_reaper(started)
        yield
    finally:
        ray.shutdown()
        if reaper is not None:
            _stop_reaper(reaper)


def _start_reaper(pids: dict[int, float]) -> subprocess.Popen | None:
    """The reaper, told which processes are this run's Ray (``pid:start_time`` arguments)."""
    import psutil  # Ray's own copy when psutil is not installed (ray puts it on sys.path)

    where = os.path.dirname(os.path.dirname(psutil.__file__))
    args = [f"{pid}:{t!r}" for pid, t in sorted(pids.items())]
    try:
        return subprocess.Popen(
            [sys.executable, "-I", str(_REAPER), where, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C or hang-up of the terminal must not end it first
        )
    except OSError as exc:
        logger.warning(
            "could not start the reaper of the local Ray (%s): a crash may leave Ray processes", exc
        )
        return None


def _stop_reaper(reaper: subprocess.Popen) -> None:
    """Close its pipe (it then ends what is left of this run's Ray) and wait for it."""
    if reaper.stdin is not None:
        with contextlib.suppress(OSError):
            reaper.stdin.close()
    try:
        reaper.wait(timeout=30)
    except subprocess.TimeoutExpired:
        logger.warning("the local Ray's reaper (pid %d) did not finish within 30 s", reaper.pid)

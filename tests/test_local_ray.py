"""The local Ray a run starts: every listening socket on loopback, and nothing left after a kill -9.

A real driver process enters the job's Ray session (``_ray_session``, what ``videoqa run``, ``eval`` and
``demo`` use without ``--address``), runs a task and an actor (so worker processes listen too), and
waits; the test lists the listening sockets of its whole process tree, or kills it with SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

psutil = pytest.importorskip("psutil")
pytest.importorskip("ray")

from videoqa.batch._local_ray import is_loopback  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

DRIVER = textwrap.dedent(
    """
    import os, sys
    import ray
    from videoqa.batch import JobConfig
    from videoqa.batch._job import _ray_session

    config = JobConfig(videos="none", questions="none", output="none", model="builtin:scripted",
                       local_num_cpus=1, local_object_store_bytes=80 * 1024**2)
    with _ray_session(config):
        @ray.remote(num_cpus=0)
        class Holder:
            def pid(self):
                return os.getpid()

        holder = Holder.remote()
        ray.get(holder.pid.remote())
        @ray.remote(num_cpus=0)
        def task_pid():
            return os.getpid()

        ray.get(task_pid.remote())
        print("READY", flush=True)
        sys.stdin.readline()
    print("DONE", flush=True)
    """
)


def _start_driver(tmp_path: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("RAY_ADDRESS", None)  # a local run, not a cluster's job
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert driver.stdout is not None
    for line in driver.stdout:
        if line.startswith("READY"):
            return driver
    driver.kill()
    raise AssertionError(f"the driver exited with {driver.wait()} before its Ray was up")


def _tree(pid: int) -> list:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def _listeners(procs: list) -> list[tuple[str, int, str]]:
    found = []
    for proc in procs:
        try:
            conns = proc.net_connections(kind="inet")
            name = proc.name()
        except psutil.Error:
            continue
        found += [(c.laddr.ip, c.laddr.port, name) for c in conns if c.status == psutil.CONN_LISTEN]
    return found


def _alive(proc) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _cleanup(procs: list) -> None:
    """Kill, by PID, what the test's driver started and is still alive (only when a test fails)."""
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.kill()


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_local_ray_listens_on_loopback_only(tmp_path: Path) -> None:
    driver = _start_driver(tmp_path)
    procs = _tree(driver.pid)
    try:
        listeners = _listeners(procs)
        names = {name for _, _, name in listeners}
        # GCS, raylet (node manager + object manager), workers, the two agents, the metrics servers
        assert len(listeners) >= 8, listeners
        assert {"gcs_server", "raylet"} <= names, names
        exposed = [entry for entry in listeners if not is_loopback(entry[0])]
        assert exposed == [], f"listening beyond loopback: {exposed}"
        driver.communicate("\n", timeout=120)
        assert driver.returncode == 0
    finally:
        _cleanup(procs)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_local_ray_does_not_outlive_a_killed_driver(tmp_path: Path) -> None:
    driver = _start_driver(tmp_path)
    procs = _tree(driver.pid)[1:]
    names = {p.name() for p in procs}
    assert any("Agent" in name for name in names), names  # the agents that used to stay behind
    try:
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
        deadline = time.monotonic() + 30
        alive = procs
        while alive and time.monotonic() < deadline:
            time.sleep(0.5)
            alive = [p for p in procs if _alive(p)]
        left = [(p.pid, p.name()) for p in alive]
        assert left == [], f"Ray processes alive 30 s after the driver's kill -9: {left}"
    finally:
        _cleanup(procs)


@pytest.mark.parametrize(
    ("host", "expected"),
    [("127.0.0.1", True), ("127.3.0.1", True), ("::1", True), ("::ffff:127.0.0.1", True),
     ("0.0.0.0", False), ("::", False), ("192.0.2.2", False), ("::ffff:192.0.2.2", False)],
)  # fmt: skip
def test_is_loopback(host: str, expected: bool) -> None:
    assert is_loopback(host) is expected

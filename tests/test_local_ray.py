"""The local Ray a run starts: every listening socket on loopback, and nothing left after a kill -9.

A real driver process enters the job's Ray session (``_ray_session``, what ``videoqa run``, ``eval`` and
``demo`` use without ``--address``), runs a task and an actor (so worker processes listen too), and
waits; the test lists the listening sockets of its whole process tree, or kills it with SIGKILL.
"""

from __future__ import annotations

import contextlib
import json
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


JOB = textwrap.dedent(
    """
    import json, sys, threading, time
    from pathlib import Path
    import psutil
    from tests.batch_util import write_good_videos, write_questions
    from videoqa.batch import JobConfig, run_job

    tmp = Path(sys.argv[1])
    config = JobConfig(videos=str(write_good_videos(tmp / "videos")),
                       questions=str(write_questions(tmp / "questions.jsonl")),
                       output=str(tmp / "out"), model="builtin:scripted", decode_workers=1,
                       local_num_cpus=2, local_object_store_bytes=200 * 1024**2)
    me, seen, done = psutil.Process(), set(), threading.Event()

    def poll():  # the listening sockets of this process and all its descendants, while the job runs
        while not done.is_set():
            for proc in [me, *me.children(recursive=True)]:
                try:
                    listening = [c.laddr for c in proc.net_connections(kind="inet") if c.status == "LISTEN"]
                    seen.update((a.ip, a.port, proc.name()) for a in listening)
                except psutil.Error:
                    pass
            time.sleep(0.2)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        summary = run_job(config)
    finally:
        done.set()
        poller.join()
    print(json.dumps({"answers": summary.answers, "listeners": sorted(seen)}))
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
@pytest.mark.timeout(300)
def test_a_local_job_listens_on_loopback_only(tmp_path: Path) -> None:
    """``run_job`` without an address, in its own process: every listener seen while the job ran."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("RAY_ADDRESS", None)  # a local run, not a cluster's job
    done = subprocess.run(
        [sys.executable, "-c", JOB, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=280,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["answers"] == 5
    listeners = [tuple(entry) for entry in result["listeners"]]
    names = {name for _, _, name in listeners}
    # GCS, raylet (node manager + object manager), workers, the two agents, the metrics servers
    assert len(listeners) >= 8, listeners
    assert {"gcs_server", "raylet", "ray::DashboardAgent", "ray::RuntimeEnvAgent"} <= names, names
    exposed = [entry for entry in listeners if not is_loopback(entry[0])]
    assert exposed == [], f"listening beyond loopback: {exposed}"


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


def _sleeper_tree() -> tuple[subprocess.Popen, list]:
    """A process with a child, both sleeping (a stand-in for a raylet and its agent)."""
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time; subprocess.Popen(['sleep', '300']); time.sleep(300)",
        ]
    )
    deadline = time.monotonic() + 30
    while not psutil.Process(parent.pid).children() and time.monotonic() < deadline:
        time.sleep(0.05)
    return parent, _tree(parent.pid)


def test_reaper_ends_what_it_follows_when_the_pipe_closes_and_nothing_else() -> None:
    import videoqa.batch._reaper as reaper_module

    tree_parent, tree = _sleeper_tree()
    bystander = subprocess.Popen(["sleep", "300"])  # same PID given with another start time: untouched
    where = os.path.dirname(os.path.dirname(psutil.__file__))
    args = [f"{tree_parent.pid}:{tree[0].create_time()!r}", f"{bystander.pid}:{1.0!r}"]
    reaper = subprocess.Popen(
        [sys.executable, "-I", reaper_module.__file__, where, *args], stdin=subprocess.PIPE
    )
    try:
        time.sleep(1.5)  # one poll: it has followed the child
        assert all(_alive(p) for p in tree)
        reaper.stdin.close()  # the driver exits or is killed
        assert reaper.wait(timeout=30) == 0
        tree_parent.wait(timeout=10)
        assert [p.pid for p in tree if _alive(p)] == []
        assert bystander.poll() is None
    finally:
        _cleanup([*tree, psutil.Process(bystander.pid)])
        bystander.wait()

"""A real two-node Ray cluster on 127.0.0.1 for the cluster tests: ``ray start`` subprocesses, token auth.

Each node is a ``ray start --block`` process in its own session (process group), with its own ports
and ``--temp-dir``; :meth:`LocalCluster.stop` ends exactly the processes these started (their
descendants by PID, then their process groups), never ``ray stop``. Token authentication is on, as on
a real cluster: every node and the job client get the same ``RAY_AUTH_TOKEN`` (and
``RAY_AUTH_MODE=token``) through their environment; ``HOME`` points into the test's folder so that
nothing reads or writes the real ``~/.ray``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from tests.batch_util import write_good_videos, write_questions

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
OBJECT_STORE_BYTES = 200_000_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node_ports(*, head: bool) -> list[str]:
    """Own ports for every listener of one node (workers get OS-assigned ports)."""
    names = ["--node-manager-port", "--object-manager-port", "--dashboard-agent-listen-port"]
    names += ["--dashboard-agent-grpc-port", "--metrics-export-port", "--runtime-env-agent-port"]
    if head:
        names += ["--ray-client-server-port"]
    args = [f"{name}={free_port()}" for name in names]
    return [*args, "--min-worker-port=0", "--max-worker-port=0"]


def write_bucket(root: Path, videos: dict) -> list[str]:
    """Generated videos and the standard questions under ``root``; returns their job flags."""
    write_good_videos(root / "videos", videos)
    write_questions(root / "questions.jsonl")
    return ["--videos", str(root / "videos"), "--questions", str(root / "questions.jsonl")]


def cluster_env(home: Path, token: str | None, *, pythonpath: str | None = None) -> dict[str, str]:
    """The environment of every process of the cluster and of its job client."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_") and k != "PYTHONPATH"}
    env.update(HOME=str(home), PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", RAY_USAGE_STATS_ENABLED="0")
    if token is not None:
        env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    return env


@dataclass
class Node:
    process: subprocess.Popen
    temp_dir: Path
    log: Path

    def raylet_pid(self) -> int:
        """PID of this node's raylet (a descendant of its ``ray start`` process)."""
        for child in psutil.Process(self.process.pid).children(recursive=True):
            if child.name() == "raylet":
                return child.pid
        raise LookupError(f"no raylet under ray start pid {self.process.pid}; log: {self.log.read_text()}")


@dataclass
class LocalCluster:
    root: Path
    token: str | None = field(default_factory=lambda: secrets.token_hex(32))
    gcs_port: int = field(default_factory=free_port)
    dashboard_port: int = field(default_factory=free_port)
    nodes: list[Node] = field(default_factory=list)
    node_ids: dict[str, str] = field(default_factory=dict)
    """role ('head', 'worker') -> Ray node id, filled in by whoever starts the nodes."""

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.gcs_port}"

    @property
    def dashboard(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    def env(self, *, token: bool = True, pythonpath: str | None = None) -> dict[str, str]:
        return cluster_env(self.home, self.token if token else None, pythonpath=pythonpath)

    def start_head(self, *, num_cpus: int) -> Node:
        args = ["--head", f"--port={self.gcs_port}", "--include-dashboard=true"]
        args += ["--dashboard-host=127.0.0.1", f"--dashboard-port={self.dashboard_port}"]
        return self._start("head", args, num_cpus=num_cpus, head=True, env=self.env())

    def start_worker(
        self, *, num_cpus: int, resources: dict[str, float], env: dict[str, str] | None = None
    ) -> Node:
        args = [f"--address={self.address}", f"--resources={json.dumps(resources)}"]
        return self._start(f"w{len(self.nodes)}", args, num_cpus=num_cpus, head=False, env=env or self.env())

    def _start(self, name: str, args: list[str], *, num_cpus: int, head: bool, env: dict[str, str]) -> Node:
        self.home.mkdir(parents=True, exist_ok=True)
        temp_dir = self.root / name  # short: Unix socket paths under it must stay below ~107 bytes
        log = self.root / f"{name}.log"
        command = [str(BIN / "ray"), "start", "--block", "--node-ip-address=127.0.0.1", *args]
        command += [f"--temp-dir={temp_dir}", f"--num-cpus={num_cpus}", "--num-gpus=0"]
        command += [f"--object-store-memory={OBJECT_STORE_BYTES}", "--disable-usage-stats"]
        command += node_ports(head=head)
        with log.open("wb") as out:
            process = subprocess.Popen(
                command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.root
            )
        node = Node(process, temp_dir, log)
        self.nodes.append(node)
        return node

    def wait_for_nodes(self, count: int, timeout_seconds: float = 120.0) -> list[dict]:
        """Wait until ``count`` nodes are alive; returns them (node_id, is_head_node, resources_total)."""
        deadline = time.monotonic() + timeout_seconds
        while True:
            for node in self.nodes:
                if node.process.poll() is not None:
                    raise RuntimeError(
                        f"ray start exited ({node.process.returncode}): {node.log.read_text()}"
                    )
            try:
                nodes = self.python(
                    """
                    from ray.util.state import list_nodes
                    rows = list_nodes(address=DASHBOARD, filters=[("state", "=", "ALIVE")])
                    out = [{"node_id": n.node_id, "is_head_node": n.is_head_node,
                            "resources_total": n.resources_total} for n in rows]
                    """,
                    timeout=60,
                )
            except RuntimeError:
                nodes = []
            if len(nodes) >= count:
                return nodes
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(nodes)} of {count} nodes up; logs under {self.root}")
            time.sleep(2.0)

    def python(self, code: str, *, timeout: float = 120) -> object:
        """Run ``code`` in a fresh interpreter with the cluster's env; it sets ``out`` (JSON-able)."""
        script = f"DASHBOARD = {self.dashboard!r}\n{textwrap.dedent(code)}\n"
        script += "import json; print(json.dumps(out))"
        result = subprocess.run(
            [sys.executable, "-c", script], env=self.env(), capture_output=True, text=True, timeout=timeout
        )
        if result.returncode != 0:
            raise RuntimeError(result.stderr[-3000:])
        return json.loads(result.stdout.strip().splitlines()[-1])

    def submit(self, entrypoint: list[str], *, submission_id: str, wait: bool = True) -> subprocess.Popen:
        """``ray job submit --working-dir .`` from the repository, as the README says."""
        command = [str(BIN / "ray"), "job", "submit", "--address", self.dashboard, "--working-dir", "."]
        command += ["--submission-id", submission_id, *([] if wait else ["--no-wait"]), "--", *entrypoint]
        return subprocess.Popen(
            command, cwd=REPO, env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )

    def job_info(self, submission_id: str) -> dict:
        return self.python(
            f"""
            from ray.job_submission import JobSubmissionClient
            client = JobSubmissionClient(DASHBOARD)
            info = client.get_job_info({submission_id!r})
            out = {{"status": str(info.status.value), "job_id": info.job_id,
                    "logs": client.get_job_logs({submission_id!r})[-4000:]}}
            """
        )

    def wait_for_job(self, submission_id: str, timeout_seconds: float = 400.0) -> dict:
        deadline = time.monotonic() + timeout_seconds
        while True:
            info = self.job_info(submission_id)
            if info["status"] in ("SUCCEEDED", "FAILED", "STOPPED"):
                return info
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {submission_id} still {info['status']}: {info['logs']}")
            time.sleep(2.0)

    def task_nodes(self, job_id: str) -> dict[str, list[str]]:
        """Node ids each task name of the job ran on, from Ray's state API (task events)."""
        return self.python(
            f"""
            from collections import defaultdict
            from ray.util.state import list_tasks
            tasks = list_tasks(address=DASHBOARD, filters=[("job_id", "=", {job_id!r})], detail=True,
                               limit=10000, raise_on_missing_output=False)
            found = defaultdict(set)
            for t in tasks:
                if t.node_id:
                    found[t.name].add(t.node_id)
            out = {{name: sorted(ids) for name, ids in found.items()}}
            """
        )

    def stop(self) -> None:
        """End the processes this cluster started, by PID: SIGTERM to each ``ray start --block`` (which
        stops its node), then SIGKILL to whatever of theirs is left (descendants, process group)."""
        survivors: dict[int, psutil.Process] = {}
        for node in reversed(self.nodes):
            try:
                parent = psutil.Process(node.process.pid)
                survivors.update({p.pid: p for p in parent.children(recursive=True)})
            except psutil.NoSuchProcess:
                pass
            if node.process.poll() is None:
                node.process.send_signal(signal.SIGTERM)
        for node in self.nodes:
            try:
                node.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                node.process.kill()
                node.process.wait()
        for process in survivors.values():
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        for node in self.nodes:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(node.process.pid, signal.SIGKILL)  # its session: pgid == the PID we started

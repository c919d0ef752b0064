"""Shared test setup: hardware markers, generated media and the tiny models.

Fixture modules are loaded as plugins so each area owns its fixtures.
"""

from __future__ import annotations

import os

import pytest

pytest_plugins = ["tests.fixtures_media", "tests.fixtures_models", "tests.fixtures_ray"]


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # GPU CI must not pass by skipping: FAIL_WITHOUT_CUDA=1 turns the skips into runs (and failures).
    if os.environ.get("FAIL_WITHOUT_CUDA") == "1" or _cuda_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (set FAIL_WITHOUT_CUDA=1 to fail instead of skip)")
    for item in items:
        if "needs_cuda" in item.keywords:
            item.add_marker(skip)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Finalise what tests left behind (unfinished decode generators with their PyAV containers and
    # reader threads, a Ray driver) while the interpreter is whole, not during its teardown, where
    # native finalisers can crash the process after every test passed.
    import gc
    import sys

    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()
    gc.collect()


def pytest_report_header(config: pytest.Config) -> list[str]:
    # The peer implementations the parity tests compare with: written against vs installed.
    from tests.peers import PEERS, installed

    return [
        f"peer {name}: installed {installed(name)}, parity tests written against {peer.written_against}"
        for name, peer in PEERS.items()
    ]

"""The one local Ray fixture of the evaluation tests (loaded as a plugin by ``conftest.py``)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def ray_cluster():
    """One local Ray per module, on 127.0.0.1 only and reaped; the batch job uses this process's Ray."""
    ray = pytest.importorskip("ray")
    from videoqa.batch._local_ray import local_ray

    if ray.is_initialized():  # started by someone else: use it, leave it running
        yield
        return
    with local_ray(num_cpus=2, object_store_bytes=400 * 1024**2, log_to_driver=False):
        yield

"""The cluster configs: ``kuberay_rayjob.yaml`` against KubeRay's RayJob CRD schema, and both configs
against what a cluster needs (the cluster extra on every node, token auth, the job's entry point).

The CRD is vendored test data (KubeRay v1.7.0, see tests/data/kuberay/README.md). Kubernetes prunes
unknown fields silently, so the schema is made strict here: an object whose schema lists its
properties (and does not preserve unknown fields) may hold no other keys; a misspelt field fails.
"""

from __future__ import annotations

import argparse
import copy
import gzip
import shlex
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from videoqa.batch._cli import add_arguments, config_from_args

REPO = Path(__file__).resolve().parent.parent
CRD = Path(__file__).parent / "data" / "kuberay" / "ray.io_rayjobs.yaml.gz"


def _strict(schema: Any) -> Any:
    if isinstance(schema, dict):
        schema = {k: _strict(v) for k, v in schema.items()}
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@pytest.fixture(scope="module")
def rayjob_schema() -> jsonschema.Draft4Validator:
    """A validator of the CRD's v1 schema (OpenAPI v3 schemas are JSON Schema draft 4 plus extensions)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # 1.4 MB of YAML: libyaml when available
    crd = yaml.load(gzip.decompress(CRD.read_bytes()), Loader=loader)
    assert crd["spec"]["names"]["kind"] == "RayJob"
    (v1,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    schema = _strict(copy.deepcopy(v1["schema"]["openAPIV3Schema"]))
    # metadata is validated by Kubernetes itself (the CRD says only "type: object")
    schema["properties"]["metadata"] = {"type": "object", "required": ["name"]}
    return jsonschema.Draft4Validator(schema)


@pytest.fixture(scope="module")
def manifest() -> dict:
    return yaml.safe_load((REPO / "kuberay_rayjob.yaml").read_text())


def test_rayjob_manifest_is_valid_against_the_kuberay_crd(rayjob_schema, manifest):
    assert manifest["apiVersion"] == "ray.io/v1" and manifest["kind"] == "RayJob"
    rayjob_schema.validate(manifest)


def test_strict_schema_rejects_a_misspelt_field_and_a_bad_enum(rayjob_schema, manifest):
    bad = copy.deepcopy(manifest)
    bad["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["maxReplica"] = 8
    with pytest.raises(jsonschema.ValidationError, match="'maxReplica' was unexpected"):
        rayjob_schema.validate(bad)
    bad = copy.deepcopy(manifest)
    bad["spec"]["rayClusterSpec"]["authOptions"]["mode"] = "password"
    with pytest.raises(jsonschema.ValidationError, match="'password' is not one of"):
        rayjob_schema.validate(bad)


def test_rayjob_runs_the_entry_point_with_valid_flags_on_gpu_workers_with_token_auth(manifest):
    spec = manifest["spec"]
    command = shlex.split(spec["entrypoint"])
    assert command[:2] == ["python", "/home/ray/videoqa/pipelines/analyze_bucket.py"]
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    config = config_from_args(parser.parse_args(command[2:]))
    assert (config.replicas, config.gpus_per_replica, config.resume) == (8, 1.0, True)

    cluster = spec["rayClusterSpec"]
    assert cluster["authOptions"] == {"mode": "token"}
    assert cluster["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    (group,) = cluster["workerGroupSpecs"]
    (worker,) = group["template"]["spec"]["containers"]
    gpus = int(worker["resources"]["limits"]["nvidia.com/gpu"])
    assert gpus * group["replicas"] == config.replicas * config.gpus_per_replica
    (head,) = cluster["headGroupSpec"]["template"]["spec"]["containers"]
    assert head["image"] == worker["image"]


def test_cluster_launcher_config_installs_the_cluster_extra_and_shares_the_token():
    config = yaml.safe_load((REPO / "ray_cluster.yaml").read_text())
    (install,) = [c for c in config["setup_commands"] if c.startswith("pip install -e")]
    assert install == 'pip install -e "/home/ray/videoqa[cluster,gpu,s3]"'  # every node
    assert config["file_mounts"]["/home/ray/.ray/auth_token"] == "~/.ray/auth_token"
    starts = [c for c in (*config["head_start_ray_commands"], *config["worker_start_ray_commands"])
              if "ray start" in c]  # fmt: skip
    assert len(starts) == 2 and all(c.startswith("RAY_AUTH_MODE=token ray start ") for c in starts)

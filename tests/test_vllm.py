"""The vLLM engine without vLLM: version gate, install hints, cache identifiers, the worker's wire format.

The engine itself (parity with transformers, the wrong-time traps) is in tests/test_vllm_parity.py.
"""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest

from videoqa.errors import ModelError
from videoqa.model import load_model
from videoqa.model._protocol import VisualFeatures
from videoqa.model._vllm import check_vllm_version, find_vllm_python, window_uuid
from videoqa.model._vllm_worker import read_message, write_message
from videoqa.video._types import Window


@pytest.mark.parametrize("version", ["0.29.0", "0.30.2", "0.8.5.post2"])
def test_a_vllm_that_ignores_fps_metadata_is_refused_with_the_fix(version):
    with pytest.raises(ModelError, match=r"24 fps.*vllm>=0\.31,<0\.33.*pip install 'videoqa\[vllm\]'"):
        check_vllm_version(version)


@pytest.mark.parametrize("version", ["0.31.0", "0.32.0", "0.33.1"])
def test_vllm_from_031_is_accepted(version):
    check_vllm_version(version)


def test_missing_vllm_is_refused_with_the_exact_fix(monkeypatch):
    monkeypatch.delenv("VIDEOQA_VLLM_PYTHON", raising=False)
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(ModelError, match=r"pip install 'videoqa\[vllm\]'.*make_vllm_venv\.sh DEST"):
        find_vllm_python()


def test_a_vllm_python_that_does_not_exist_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("VIDEOQA_VLLM_PYTHON", str(tmp_path / "nope" / "python"))
    with pytest.raises(ModelError, match=r"nope/python.*is not a file"):
        find_vllm_python()


def test_load_model_checks_the_engine_before_loading_anything():
    with pytest.raises(ValueError, match=r"engine must be one of \('transformers', 'vllm'\)"):
        load_model("builtin:tiny-grounder", engine="tgi")
    with pytest.raises(ValueError, match="tensor_parallel_size applies to engine='vllm' only"):
        load_model("builtin:tiny-grounder", tensor_parallel_size=2)
    with pytest.raises(ValueError, match="stand-in without a language model"):
        load_model("builtin:scripted", engine="vllm")


def _features(start: float, duration: float, frames: int = 4) -> VisualFeatures:
    window = Window(
        index=0,
        start_seconds=start,
        end_seconds=start + duration,
        pts_seconds=tuple(start + k * duration / frames for k in range(frames)),
        height=28,
        width=28,
        sampled_fps=frames / duration,
    )
    return VisualFeatures(window=window, pts_seconds=np.asarray(window.pts_seconds), data=None)


def test_the_cache_identifier_changes_with_the_time_not_only_the_embeddings():
    """vLLM keys its caches by content; the same embeddings at another time must not share a key."""
    embeds = np.ones((2, 8), dtype=np.float32)
    base = {"embeds": embeds, "grid_thw": (2, 2, 2), "second_per_grid": 1.0}
    here = window_uuid("fp", _features(0.0, 4.0), base)
    assert here == window_uuid("fp", _features(0.0, 4.0), dict(base))
    assert here != window_uuid("fp", _features(0.0, 4.0), {**base, "second_per_grid": 0.5})
    assert here != window_uuid("fp", _features(10.0, 4.0), base)  # a later window, same frames' content
    assert here != window_uuid("fp", _features(0.0, 4.0), {**base, "timestamps": [0.0, 2.0]})
    assert here != window_uuid("other-model", _features(0.0, 4.0), base)
    moved = _features(0.0, 4.0)
    moved = dataclasses.replace(moved, pts_seconds=moved.pts_seconds + 0.25)  # same plan, other pts
    assert here != window_uuid("fp", moved, base)


def test_worker_messages_round_trip_and_a_cut_pipe_is_an_eof():
    stream = io.BytesIO()
    message = {"op": "generate", "array": np.arange(6, dtype=np.float32).reshape(2, 3), "ids": [1, 2]}
    write_message(stream, message)
    blob = stream.getvalue()
    back = read_message(io.BytesIO(blob))
    assert back["ids"] == [1, 2] and np.array_equal(back["array"], message["array"])
    with pytest.raises(EOFError):
        read_message(io.BytesIO(blob[:-1]))


def test_the_batch_job_and_the_clis_take_the_engine(monkeypatch):
    import argparse

    from videoqa import _analyze_cli
    from videoqa.batch import JobConfig
    from videoqa.batch._cli import add_arguments, config_from_args
    from videoqa.batch._session import build_session

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--videos", "v", "--questions", "q", "--output", "o", "--engine", "vllm"])
    config = config_from_args(args)
    assert config.engine == "vllm"
    assert config.config_hash == config.model_copy(update={"engine": "transformers"}).config_hash
    seen = {}
    monkeypatch.setattr("videoqa.Session", lambda model, settings, **kw: seen.update(kw["model_options"]))
    build_session(config.model_copy(update={"model": "builtin:tiny-grounder"}), num_gpus=4)
    assert seen == {"prefix_reuse": True, "engine": "vllm", "tensor_parallel_size": 4}
    seen.clear()
    build_session(config.model_copy(update={"model": "builtin:tiny-grounder"}), num_gpus=0)
    assert seen == {"prefix_reuse": True, "engine": "vllm", "tensor_parallel_size": 1, "device": "cpu"}
    with pytest.raises(Exception, match="engine"):
        JobConfig(videos="v", questions="q", output="o", engine="tgi")
    analyze = argparse.ArgumentParser()
    _analyze_cli.add_arguments(analyze)
    assert analyze.parse_args(["v.mp4", "q", "--engine", "vllm"]).engine == "vllm"
    from videoqa.eval._cli import add_arguments as add_eval_arguments
    from videoqa.eval._cli import config_from_args as eval_config

    evaluation = argparse.ArgumentParser()
    add_eval_arguments(evaluation)
    eval_args = ["lvbench", "--annotations", "m", "--videos", "v/", "--output", "o/", "--engine", "vllm"]
    assert eval_config(evaluation.parse_args(eval_args)).job["engine"] == "vllm"


def test_worker_failures_are_typed_so_out_of_memory_is_its_own_row():
    from videoqa.errors import ModelOutOfMemoryError
    from videoqa.model._vllm import worker_error

    oom = worker_error("generate", "OutOfMemoryError", "CUDA out of memory. Tried to allocate 2.00 GiB")
    assert type(oom) is ModelOutOfMemoryError and "lower the visual-token budget" in str(oom)
    other = worker_error("generate", "ValueError", "The data should contain the fields: second_per_grid_ts")
    assert type(other) is ModelError and "ValueError: The data should contain" in str(other)


@pytest.mark.parametrize("kind", ["qwen2.5-vl", "qwen2-vl", "qwen3-vl"])
def test_tiny_recipes_widen_both_towers_to_the_head_dim_vllm_cpu_needs(kind):
    """vLLM's CPU attention starts at head size 32: ``head_dim=32`` doubles every width, keeps the rest."""
    from videoqa.model._tiny import _tiny_config
    from videoqa.model._tiny_common import train_tokenizer
    from videoqa.model._tiny_qwen3 import _config as qwen3_config

    tokenizer = train_tokenizer()

    def make(**kw):
        return qwen3_config(tokenizer, **kw) if kind == "qwen3-vl" else _tiny_config(kind, tokenizer, **kw)

    base, wide = make().to_dict(), make(head_dim=32).to_dict()
    for config, head_dim in ((base, 16), (wide, 32)):
        text, vision = config["text_config"], config["vision_config"]
        assert text["hidden_size"] // text["num_attention_heads"] == head_dim
        width = vision.get("embed_dim", vision["hidden_size"])
        assert width // vision["num_heads"] == head_dim
        assert sum(text["rope_parameters"]["mrope_section"]) == head_dim // 2
        assert vision.get("out_hidden_size", text["hidden_size"]) == text["hidden_size"]
    assert [s * 2 for s in base["text_config"]["rope_parameters"]["mrope_section"]] == wide["text_config"][
        "rope_parameters"
    ]["mrope_section"]
    assert base["text_config"]["num_hidden_layers"] == wide["text_config"]["num_hidden_layers"] == 2


@pytest.mark.parametrize("head_dim", [8, 24, 33, True])
def test_tiny_head_dim_must_be_a_multiple_of_16(head_dim, tmp_path):
    from videoqa.model import build_tiny_model

    with pytest.raises(ValueError, match=r"head_dim must be a multiple of 16"):
        build_tiny_model(tmp_path / "m", kind="qwen2-vl", head_dim=head_dim)
    assert not (tmp_path / "m").exists()

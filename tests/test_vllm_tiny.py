"""engine="vllm" on tiny Qwen2.5-VL, Qwen2-VL and Qwen3-VL: the transformers runner's ids, times and answers.

vLLM's CPU attention has no kernel below head size 32, so the checkpoints are the tiny recipes
built with ``head_dim=32`` (``build_tiny_model(..., head_dim=32)``: both towers twice as wide,
``mrope_section`` scaled alike). One vLLM load per family (1-4 minutes on 2 cores).

Each family answers every task on a video with a variable frame rate and windows that start late
(coarse-to-fine over 5 s windows), and gets two-window requests over late VFR windows, where
vLLM's prompt token ids, its MRoPE positions (Qwen2/2.5-VL) and the ``<t seconds>`` it reads
(Qwen3-VL) are compared with videoqa's and with the truth, and the greedy answers with the
transformers runner's. Runs vLLM's CPU build from its own venv (see tests/vllm_util.py).
"""

from __future__ import annotations

import numpy as np
import pytest

import videoqa
from tests.vllm_util import engine_of, run_raw, same_answers, small_kv_cache, vllm_marks
from videoqa.core._session import make_question
from videoqa.core._strategies import fine_plan
from videoqa.core.prompts import build_prompt
from videoqa.core.settings import Settings
from videoqa.errors import ModelError
from videoqa.model import GenerationRequest, build_tiny_model
from videoqa.model._timestamps import read_timestamps
from videoqa.synthetic import write_video

pytestmark = vllm_marks()
_small_kv_cache = pytest.fixture(scope="module", autouse=True)(small_kv_cache)

HEAD_DIM = 32
"""The smallest head size vLLM's CPU attention runs (``CPUAttentionBackend.get_supported_head_sizes``)."""
PIXELS = {"min_pixels": 4 * 28 * 28, "max_pixels": 8 * 28 * 28}
SESSION = {**PIXELS, "max_new_tokens": 16}
"""Random weights ramble to the token limit: 16 tokens keep a Session run short."""
TASKS = [
    ("qa", "What colour is the square?", None),
    ("grounding", "When is the red square visible?", None),
    ("choice", "Which colour appears?", ["red", "green", "blue", "yellow"]),
]
# 10 s at 30 fps, then 10 s at 10 fps: 400 frames over 20 s, a nominal (average) 20 fps
VFR_DURATIONS = [1 / 30] * 300 + [0.1] * 100
LATE_REGIONS = [(6.0, 12.0), (14.0, 18.0)]
"""Two windows starting late, the first across the change of frame rate."""


@pytest.fixture(scope="module")
def vfr_video(tmp_path_factory):
    return write_video(
        tmp_path_factory.mktemp("vfr") / "vfr.mkv",
        duration_seconds=20.0,
        fps=20,
        width=64,
        height=36,
        frame_durations=VFR_DURATIONS,
    )


@pytest.fixture(scope="module", params=["qwen2.5-vl", "qwen2-vl", "qwen3-vl"])
def engine(request, tmp_path_factory):
    path = build_tiny_model(
        tmp_path_factory.mktemp("wide") / request.param, kind=request.param, head_dim=HEAD_DIM
    )
    yield from engine_of(str(path))


def late_vfr_requests(engine, video):
    """One two-window request per task over :data:`LATE_REGIONS` of ``video``, and the decoded clips."""
    settings = Settings(**PIXELS)
    plan = fine_plan(videoqa.probe(video), LATE_REGIONS, settings, engine.inner.sampling)
    clips = list(videoqa.decode(str(video), plan))
    features = tuple(engine.inner.encode(clip) for clip in clips)
    assert [w.start_seconds for w in plan.windows] == [r[0] for r in LATE_REGIONS]
    questions = [make_question(q, task=task, options=options) for task, q, options in TASKS]
    return [GenerationRequest(features, build_prompt(q)) for q in questions], clips


def test_every_task_on_vfr_video_and_late_windows_same_answers(engine, vfr_video):
    answers = same_answers(
        engine, [vfr_video], TASKS, coarse_window_seconds=5.0, strategy="coarse_to_fine", **SESSION
    )
    starts = {w.start_seconds for _, _, a in answers["vllm"] for w in a.windows}
    assert {5.0, 10.0, 15.0} <= starts, starts  # the coarse windows after the first


def test_two_late_vfr_windows_same_ids_times_and_answers(engine, vfr_video):
    requests, clips = late_vfr_requests(engine, vfr_video)
    inner = engine.inner
    for request in requests:
        ours = inner.build_inputs([request])
        theirs = run_raw(engine, request, max_new_tokens=8)
        assert theirs["prompt_token_ids"] == ours["input_ids"][0].tolist()
        assert np.array_equal(theirs["positions"], ours["position_ids"][1:, 0])
        text = inner.tokenizer.decode(theirs["output_token_ids"], skip_special_tokens=True)
        assert text == inner.generate([request], max_new_tokens=8)[0].text
    assert [g.text for g in engine.generate(requests, max_new_tokens=8)] == [
        g.text for g in inner.generate(requests, max_new_tokens=8)
    ]
    if inner.temporal.kind == "timestamp_text":  # Qwen3-VL: the <t seconds> vLLM read are the true ones
        pairs = np.concatenate([c.pts_seconds.reshape(-1, 2).mean(axis=1) for c in clips])
        truth = [round(float(t), 1) for t in pairs - LATE_REGIONS[0][0]]
        read = read_timestamps(inner.tokenizer.decode(run_raw(engine, requests[0])["prompt_token_ids"]))
        assert read == truth


def test_qwen3_constant_rate_timestamps_are_refused(engine, vfr_video, monkeypatch):
    """Trap 2: plain vLLM writes ``<t seconds>`` as frame index / fps (a constant rate).

    On the late VFR windows those times are wrong; sent in place of the true ones, the engine's
    prompt check refuses the request instead of answering at the wrong time.
    """
    if engine.inner.temporal.kind != "timestamp_text":
        pytest.skip("Qwen2-VL / Qwen2.5-VL carry time in their positions (checked above)")
    requests, clips = late_vfr_requests(engine, vfr_video)
    starts = np.cumsum([0.0, *VFR_DURATIONS])
    nominal_fps = len(VFR_DURATIONS) / 20.0
    constant_rate = [
        # vLLM's Qwen3VLProcessingInfo._calculate_timestamps on the frames' stream indices
        ((indices[0::2] + indices[1::2]) / 2 / nominal_fps) - LATE_REGIONS[0][0]
        for indices in (np.searchsorted(starts, c.pts_seconds - 1e-6) for c in clips)
    ]
    true = engine.inner.patch_seconds(requests[0])
    assert not np.allclose(np.concatenate(constant_rate), np.concatenate(true), atol=0.05)
    built = engine.vllm_request

    def constant_rate_request(request):
        message = built(request)
        for video, seconds in zip(message["videos"], constant_rate, strict=True):
            video["timestamps"] = [float(t) for t in seconds]
        return message

    monkeypatch.setattr(engine, "vllm_request", constant_rate_request)
    with pytest.raises(ModelError, match="vLLM built a different prompt than videoqa"):
        engine.generate(requests[:1], max_new_tokens=2)


def test_qwen3_embeddings_without_timestamps_are_refused(engine, vfr_video):
    """Embeddings without their ``timestamps`` are refused (vLLM 0.31-0.32 requires the field)."""
    if engine.inner.temporal.kind != "timestamp_text":
        pytest.skip("Qwen3-VL only")
    requests, _ = late_vfr_requests(engine, vfr_video)
    with pytest.raises(ModelError, match="timestamps"):
        run_raw(engine, requests[0], timestamps=None)

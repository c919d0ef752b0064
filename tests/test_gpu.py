"""GPU checks: skipped without CUDA (``FAIL_WITHOUT_CUDA=1`` makes them fail instead).

Run them all at once on a GPU machine with::

    FAIL_WITHOUT_CUDA=1 .venv/bin/python -m pytest -m needs_cuda

Each compares the GPU path with a reference on the same machine, so the first GPU run of the suite
says at once whether padding, kernels, sharding, Qwen2-VL, the feature cache and the out-of-memory
handling behave.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.model_util import PROMPT, make_clip
from videoqa.errors import ModelOutOfMemoryError
from videoqa.model import GenerationRequest, load_model

pytestmark = pytest.mark.needs_cuda


def _requests(m, prompts=(PROMPT, "Colour?", PROMPT + " Answer in seconds.")):
    features = m.encode(make_clip(4, 2.0, height=112, width=112, seed=7))
    return [GenerationRequest(features=(features,), prompt=p) for p in prompts]


def _prefill_logits(m, request):
    built = m.build_inputs([request])
    device = m.model.get_input_embeddings().weight.device
    ids = torch.from_numpy(built["input_ids"]).to(device)
    with torch.inference_mode():
        out = m.model(
            input_ids=ids,
            inputs_embeds=m.embed(ids, built["features"]),
            attention_mask=torch.from_numpy(built["attention_mask"]).to(device),
            position_ids=torch.from_numpy(built["position_ids"]).to(device),
        )
    return out.logits[0, -1].float().cpu()


def test_default_load_on_a_gpu_goes_straight_to_it(tiny_qwen25_path: Path):
    m = load_model(str(tiny_qwen25_path))
    assert m.load_options.device == "cuda" and m.model.device.type == "cuda"
    assert m.load_options.device_map == {"": "cuda:0"}
    major, _ = torch.cuda.get_device_capability(0)
    assert m.model.dtype == (torch.bfloat16 if major >= 8 else torch.float32)


def test_left_padded_batch_equals_single_runs_on_cuda(tiny_qwen25_path: Path):
    m = load_model(str(tiny_qwen25_path), dtype="float32", attn_implementation="sdpa")
    requests = _requests(m)
    alone = [m.generate([r], max_new_tokens=8)[0] for r in requests]
    assert len({g.input_tokens for g in alone}) == 3  # different lengths: the batch is left-padded
    assert m.generate(requests, max_new_tokens=8) == alone


def test_flash_attention_agrees_with_sdpa(tiny_qwen25_path: Path):
    pytest.importorskip("flash_attn")
    flash = load_model(str(tiny_qwen25_path), dtype="bfloat16", attn_implementation="flash_attention_2")
    sdpa = load_model(str(tiny_qwen25_path), dtype="bfloat16", attn_implementation="sdpa")
    for request in _requests(flash):
        a, b = _prefill_logits(flash, request), _prefill_logits(sdpa, request)
        assert (a - b).abs().max().item() < 0.05 * max(a.abs().max().item(), 1.0)


def test_two_gpu_device_map_matches_one_gpu(tiny_qwen25_path: Path):
    if torch.cuda.device_count() < 2:
        pytest.skip("needs two GPUs")
    whole = load_model(str(tiny_qwen25_path), dtype="float32", attn_implementation="sdpa")
    split = load_model(
        str(tiny_qwen25_path),
        dtype="float32",
        attn_implementation="sdpa",
        device_map="balanced",
    )
    assert {str(d) for d in split.model.hf_device_map.values()} >= {"0", "1"}
    requests = _requests(whole)
    assert split.generate(_requests(split), max_new_tokens=8) == whole.generate(requests, max_new_tokens=8)


def test_qwen2_vl_on_cuda_matches_the_cpu(tiny_qwen2_path: Path):
    gpu = load_model(str(tiny_qwen2_path), dtype="float32", attn_implementation="sdpa")
    cpu = load_model(str(tiny_qwen2_path), device="cpu")
    a = _prefill_logits(gpu, _requests(gpu)[0])
    b = _prefill_logits(cpu, _requests(cpu)[0])
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-3, atol=1e-3)


def test_features_encoded_on_a_gpu_are_reused_from_the_cache(tiny_qwen25_path: Path, tmp_path, event_video):
    import videoqa

    session = videoqa.Session(load_model(str(tiny_qwen25_path)), cache_dir=tmp_path / "cache")
    first = session.analyze(event_video, "When does the red square appear?", task="grounding")
    second = session.analyze(event_video, "When does the red square appear?", task="grounding")
    assert [w.cached for w in second.windows] == [True] * len(second.windows)
    assert second.raw_text == first.raw_text


def test_a_real_out_of_memory_splits_the_call(tiny_qwen25_path: Path):
    m = load_model(str(tiny_qwen25_path), dtype="float32", attn_implementation="eager")
    requests = _requests(m)
    expected = [m.generate([r], max_new_tokens=4)[0] for r in requests]
    one, three = _peak_bytes(m, requests[:1]), _peak_bytes(m, requests)
    if three < 2 * one:
        pytest.skip(f"a 3-row call ({three} B) is not much larger than one row ({one} B) on this GPU")
    # Leave the allocator room for one row at a time, not three: the 3-row call must split.
    torch.cuda.empty_cache()
    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction((torch.cuda.memory_allocated() + (one + three) // 2) / total)
    try:
        m._oom_budget = None
        assert m.generate(requests, max_new_tokens=4) == expected
        assert m._oom_budget is not None
        with pytest.raises(ModelOutOfMemoryError):
            torch.cuda.set_per_process_memory_fraction((torch.cuda.memory_allocated() + one // 4) / total)
            m.generate(requests[:1], max_new_tokens=4)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
        m._oom_budget = None


def _peak_bytes(m, requests) -> int:
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    m.generate(requests, max_new_tokens=4)
    return torch.cuda.max_memory_allocated() - base

"""Generate calls planned by padded tokens, out-of-memory splits and device failures (CPU-tested)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from tests.model_util import PROMPT, make_clip
from videoqa.errors import DeviceFailedError, ModelOutOfMemoryError
from videoqa.model import GenerationRequest
from videoqa.model._batching import bytes_per_prompt_token, plan_batches, token_budget

# -- the plan (pure) -----------------------------------------------------------------------------------


def test_plan_groups_similar_lengths_shortest_first_within_the_budget():
    assert plan_batches([100, 10, 12, 105], max_requests=8, max_padded_tokens=250) == [[1, 2], [0, 3]]
    # The budget counts padded tokens: 3 x 105 = 315 > 250, so the third long request waits.
    assert plan_batches([100, 104, 105], max_requests=8, max_padded_tokens=250) == [[0, 1], [2]]
    # No token limit (CPU default): only the request count and the padding ratio split.
    assert plan_batches([50] * 5, max_requests=2, max_padded_tokens=None) == [[0, 1], [2, 3], [4]]
    # A 106k-token window never shares a call with a 2k-token one (it would pad the short one 50x).
    assert plan_batches([106_000, 2_000], max_requests=4, max_padded_tokens=None) == [[1], [0]]
    # One request over the budget still runs, alone.
    assert plan_batches([10, 500], max_requests=4, max_padded_tokens=100) == [[0], [1]]
    assert plan_batches([], max_requests=4, max_padded_tokens=100) == []
    with pytest.raises(ValueError, match="max_requests"):
        plan_batches([1], max_requests=0, max_padded_tokens=None)
    with pytest.raises(ValueError, match="max_padded_tokens"):
        plan_batches([1], max_requests=1, max_padded_tokens=0)


def test_the_padding_ratio_is_measured_against_the_shortest_row_of_the_call():
    # 120 is within 1.25x of 100, and 150 within 1.25x of 120, but 150 is 1.5x the shortest row (100):
    # a ratio measured against the last row added would chain all three into one call.
    assert plan_batches([100, 120, 150], max_requests=8, max_padded_tokens=None) == [[0, 1], [2]]
    assert plan_batches([150, 120, 100], max_requests=8, max_padded_tokens=None) == [[2, 1], [0]]
    # The bound itself: 125 = 1.25 x 100 joins, 126 does not.
    assert plan_batches([100, 125], max_requests=8, max_padded_tokens=None) == [[0, 1]]
    assert plan_batches([100, 126], max_requests=8, max_padded_tokens=None) == [[0], [1]]


def test_memory_per_token_and_budget_of_qwen25_vl_7b():
    from tests.test_model_devices import _qwen25_7b_config

    # KV: 28 layers x 2 x 4 kv heads x 128 x 2 bytes = 57,344;
    # activations: (4 x 3584 + 2 x 18944) x 2 = 104,448.
    per_token = bytes_per_prompt_token(_qwen25_7b_config(), dtype_bytes=2)
    assert per_token == 57_344 + 104_448
    # An 80 GB H100 with the 15.4 GiB of 7B weights loaded has ~62 GiB free: 0.8 x 62 GiB / 161,792 B.
    assert token_budget(62 * 1024**3, per_token_bytes=per_token) == 329_173
    # ...so at most three default 106k-token windows per call, never four.
    assert plan_batches([106_000] * 4, max_requests=4, max_padded_tokens=329_173) == [[0, 1, 2], [3]]


# -- the runner ---------------------------------------------------------------------------------------


def _count_calls(monkeypatch, model, *, fail=None):
    """Record the batch size of every ``model.generate`` call; ``fail(rows)`` may raise instead."""
    calls: list[int] = []
    original = model.model.generate

    def generate(*args, **kwargs):
        rows = kwargs["input_ids"].shape[0]
        calls.append(rows)
        if fail is not None:
            fail(rows)
        return original(*args, **kwargs)

    monkeypatch.setattr(model.model, "generate", generate)
    return calls


def _requests(m):
    # Each request encodes its own window, so the calls are batched, not served from a shared prefix.
    prompts = [PROMPT, "Colour?", PROMPT + " Answer in seconds.", "What happens?"]
    return [GenerationRequest(features=(m.encode(make_clip(4, 2.0, seed=5)),), prompt=p) for p in prompts]


def test_token_budget_splits_calls_and_keeps_request_order(tiny_qwen25, monkeypatch):
    m = tiny_qwen25
    requests = _requests(m)
    alone = [m.generate([r], max_new_tokens=6)[0] for r in requests]
    lengths = [g.input_tokens for g in alone]
    assert len(set(lengths)) == 4 and max(lengths) <= 1.25 * min(lengths)  # one call, padded

    calls = _count_calls(monkeypatch, m)
    assert m.generate(requests, max_new_tokens=6) == alone
    assert calls == [4]
    calls.clear()
    monkeypatch.setattr(
        m, "load_options", dataclasses.replace(m.load_options, max_batch_tokens=2 * max(lengths))
    )
    assert m.generate(requests, max_new_tokens=6) == alone
    assert calls == [2, 2]


def test_out_of_memory_splits_the_call_and_lowers_the_budget(tiny_qwen25, monkeypatch):
    m = tiny_qwen25
    requests = _requests(m)
    expected = m.generate(requests, max_new_tokens=6)

    def oom_above_one(rows):
        if rows > 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 41.80 GiB")

    calls = _count_calls(monkeypatch, m, fail=oom_above_one)
    monkeypatch.setattr(m, "_oom_budget", None)
    assert m.generate(requests, max_new_tokens=6) == expected
    assert calls == [4, 2, 1, 1, 2, 1, 1]
    longest = max(g.input_tokens for g in expected)
    assert m.token_budget() is not None and m.token_budget() < 2 * longest  # later calls plan smaller
    calls.clear()
    assert m.generate(requests, max_new_tokens=6) == expected
    assert calls == [1, 1, 1, 1]


def test_a_request_that_does_not_fit_alone_is_a_typed_error(tiny_qwen25, monkeypatch):
    m = tiny_qwen25
    monkeypatch.setattr(m, "_oom_budget", None)

    def always_oom(rows):
        raise torch.OutOfMemoryError("CUDA out of memory")

    _count_calls(monkeypatch, m, fail=always_oom)
    with pytest.raises(ModelOutOfMemoryError, match=r"1 request.*does not fit the device.*total_pixels"):
        m.generate(_requests(m)[:1], max_new_tokens=2)


def test_an_unrecoverable_cuda_error_is_a_device_failure(tiny_qwen25, monkeypatch):
    m = tiny_qwen25

    def illegal_access(rows):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    _count_calls(monkeypatch, m, fail=illegal_access)
    with pytest.raises(DeviceFailedError, match="must be restarted"):
        m.generate(_requests(m), max_new_tokens=2)


def test_other_errors_pass_through_unchanged(tiny_qwen25, monkeypatch):
    m = tiny_qwen25

    def bug(rows):
        raise RuntimeError("shape mismatch")

    _count_calls(monkeypatch, m, fail=bug)
    with pytest.raises(RuntimeError, match=r"^shape mismatch$"):
        m.generate(_requests(m), max_new_tokens=2)


def test_the_load_states_the_token_budget_per_call(tiny_qwen25_path, caplog):
    from videoqa.model import load_model

    with caplog.at_level("INFO", logger="videoqa.model._qwen"):
        load_model(str(tiny_qwen25_path), device="cpu", max_batch_tokens=1000)
        load_model(str(tiny_qwen25_path), device="cpu")
    said = [r.getMessage() for r in caplog.records if "generate calls hold" in r.getMessage()]
    # The tiny model: 2 layers x 2 x 2 kv heads x 16 x 4 bytes + (4 x 64 + 2 x 128) x 4 bytes = 2560 B.
    assert [s.split(": ", 1)[1] for s in said] == [
        "generate calls hold at most 1,000 padded prompt tokens (about 2 KiB each: KV cache + activations)",
        "generate calls hold at most an unlimited number of padded prompt tokens "
        "(about 2 KiB each: KV cache + activations)",
    ]
    assert any("device cpu (asked for); dtype float32" in r.getMessage() for r in caplog.records)

"""Helpers of the vLLM engine tests (tests/test_vllm_parity.py, tests/test_vllm_tiny.py).

They run vLLM's CPU build from its own venv: ``bash scripts/make_vllm_venv.sh DEST`` and
``VIDEOQA_VLLM_PYTHON=DEST/bin/python``. Without it they are skipped with that note;
``VIDEOQA_REQUIRE_VLLM=1`` (CI) turns the missing venv into an error, so CI cannot pass by skipping.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import videoqa
from videoqa.model import GenerationOptions, load_model

VLLM_PYTHON = os.environ.get("VIDEOQA_VLLM_PYTHON", "")
NO_VENV = (
    f"no vLLM venv (VIDEOQA_VLLM_PYTHON={VLLM_PYTHON!r} is not a file): "
    "`bash scripts/make_vllm_venv.sh DEST` and VIDEOQA_VLLM_PYTHON=DEST/bin/python"
)


def vllm_marks() -> list[pytest.MarkDecorator]:
    """A vLLM test module's marks: slow, ``vllm``, a long timeout; skipped (CI: failed) without the venv."""
    present = bool(VLLM_PYTHON) and Path(VLLM_PYTHON).is_file()
    if not present and os.environ.get("VIDEOQA_REQUIRE_VLLM") == "1":
        raise RuntimeError(f"VIDEOQA_REQUIRE_VLLM=1 but {NO_VENV}")
    return [
        pytest.mark.slow,
        pytest.mark.vllm,
        # a vLLM load takes 1-3 min on 2 idle cores, over 10 min on a machine loaded 20x
        pytest.mark.timeout(3600),
        pytest.mark.skipif(not present, reason=NO_VENV),
    ]


def small_kv_cache():
    """vLLM's CPU KV cache space, 1 GiB unless set: the tiny models need little (a generator fixture body)."""
    old = os.environ.get("VLLM_CPU_KVCACHE_SPACE")
    os.environ["VLLM_CPU_KVCACHE_SPACE"] = old or "1"
    yield
    if old is None:
        os.environ.pop("VLLM_CPU_KVCACHE_SPACE", None)


def engine_of(model: str):
    """``model`` loaded with engine="vllm" on the CPU (the self-check runs), closed afterwards."""
    engine = load_model(model, device="cpu", engine="vllm")
    try:
        yield engine
    finally:
        engine.close()


def same_answers(engine, videos, tasks, **settings):
    """Every task on every video through Session with vLLM and with the transformers runner it wraps.

    Each vLLM ``generate`` has already compared its prompt ids and MRoPE positions with videoqa's.
    """
    answers = {}
    for name, session in (
        ("vllm", videoqa.Session(engine, **settings)),
        ("transformers", videoqa.Session(engine.inner, **settings)),
    ):
        answers[name] = [
            (str(v), task, session.analyze(str(v), q, task=task, options=options))
            for v in videos
            for task, q, options in tasks
        ]
    for (video, task, a), (_, _, b) in zip(answers["vllm"], answers["transformers"], strict=True):
        texts = [s.raw_texts for s in a.steps], [s.raw_texts for s in b.steps]
        assert texts[0] == texts[1], (video, task, texts)
        assert [s.prompt_tokens for s in a.steps] == [s.prompt_tokens for s in b.steps], (video, task)
        assert (a.answer, a.spans, a.choice) == (b.answer, b.spans, b.choice), (video, task)
    return answers


def run_raw(engine, request, *, uuids: bool = True, max_new_tokens: int = 6, **changes):
    """One request through the worker as the engine builds it (minus the engine's checks).

    ``uuids=False`` drops the cache identifiers; each ``changes`` key replaces (or, with None,
    drops) that field of every window. Returns the worker's output: text, prompt ids, positions.
    """
    message = engine.vllm_request(request)
    for video in message["videos"]:
        if not uuids:
            video.pop("uuid")
        for key, value in changes.items():
            video.pop(key) if value is None else video.__setitem__(key, value)
    reply = engine.worker.call(
        {
            "op": "generate",
            "requests": [message],
            "sampling": engine.sampling_params(max_new_tokens, GenerationOptions()),
            "record_positions": True,
        }
    )
    return reply["outputs"][0]

"""engine="vllm" on the shipped grounder: prompts, positions and greedy answers of the transformers runner.

Runs vLLM's CPU build from its own venv (see tests/vllm_util.py: skipped without it, an error in
CI). Each vLLM load takes 1-3 minutes on 2 cores, so each model is loaded once per class and closed
after it. The tiny Qwen2-VL / Qwen2.5-VL / Qwen3-VL checkpoints are in tests/test_vllm_tiny.py.

Every ``generate`` of the engine compares vLLM's prompt token ids and MRoPE positions with the
transformers runner's and raises on a difference, so a test that gets answers has already checked
them; the tests here also compare the answers and show the three wrong-time cases of plain vLLM.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from tests.vllm_util import VLLM_PYTHON, engine_of, run_raw, same_answers, small_kv_cache, vllm_marks
from videoqa.errors import ModelError
from videoqa.model import load_model
from videoqa.model._vllm_check import self_check_requests

pytestmark = vllm_marks()
_small_kv_cache = pytest.fixture(scope="module", autouse=True)(small_kv_cache)


class TestGrounder:
    """The shipped grounder (a trained Qwen2.5-VL): time is in its MRoPE ids, so they must match."""

    @pytest.fixture(scope="class")
    @classmethod
    def engine(cls):
        yield from engine_of("builtin:tiny-grounder")

    def test_demo_bucket_answers_are_the_transformers_answers(self, engine, tmp_path):
        from videoqa.batch._demo import DEMO_VIDEOS, write_demo_bucket
        from videoqa.model._grounder import GROUNDER_QUERY

        videos, _ = write_demo_bucket(tmp_path)
        tasks = [("grounding", GROUNDER_QUERY.format(color=c), None) for c in ("red", "blue")]
        answers = same_answers(engine, [videos / name for name in DEMO_VIDEOS], tasks, fps=1.0)
        spans = [a.spans for _, _, a in answers["vllm"]]
        assert any(spans), "the grounder found no span at all: the comparison would be vacuous"

    def test_two_late_windows_per_request_same_tokens_and_text(self, engine):
        """The self-check's requests (two windows starting at 3.25 s and 8.25 s, an on-tick patch)."""
        requests = self_check_requests(engine.inner)
        ours = engine.inner.generate(requests, max_new_tokens=8)
        theirs = engine.generate(requests, max_new_tokens=8)
        assert [g.text for g in theirs] == [g.text for g in ours]
        assert [g.input_tokens for g in theirs] == [g.input_tokens for g in ours]

    def test_embeddings_without_their_time_are_refused(self, engine):
        """Trap 3a: plain vLLM takes video_embeds without second_per_grid_ts as 1 s per patch, silently."""
        request = self_check_requests(engine.inner)[0]
        with pytest.raises(ModelError, match="second_per_grid_ts"):
            run_raw(engine, request, uuids=True, second_per_grid=None)

    def test_the_same_embeddings_at_another_time_are_not_served_from_cache(self, engine):
        """Trap 3b: vLLM keys its caches by content; the time in videoqa's identifiers keeps them apart.

        Two requests with the same token ids and the same 384 embeddings of one window, over 5.0 s
        and then over 6.6 s: with an identifier of the content alone (how plain vLLM keys embeddings,
        whose time its parser drops) the second is served the first one's prefix state, computed at
        the first time; with videoqa's identifiers nothing of the video is reused, and the answer is
        the transformers runner's.
        """
        first, second = same_embeddings_at_two_times(engine.inner)
        ids = engine.inner.build_inputs([second])["input_ids"][0].tolist()
        video_at = ids.index(engine.inner.model.config.video_token_id)
        ours = [run_raw(engine, r) for r in (first, second)][1]
        assert ours["cached_tokens"] <= video_at
        assert np.array_equal(ours["positions"], engine.inner.build_inputs([second])["position_ids"][1:, 0])
        text = engine.inner.tokenizer.decode(ours["output_token_ids"], skip_special_tokens=True)
        assert text == engine.inner.generate([second], max_new_tokens=6)[0].text
        content = "content-" + hashlib.sha256(first.features[0].data.embeddings.numpy().tobytes()).hexdigest()
        plain = [run_raw(engine, r, uuid=content) for r in (first, second)][1]
        assert plain["cached_tokens"] >= 128 > video_at  # a whole 128-token block of the video reused


def same_embeddings_at_two_times(inner):
    """Two one-window requests: equal embeddings (6 patches of 8 x 8 tokens), 5.0 s then 6.6 s long."""
    import dataclasses

    import torch

    from videoqa.model._protocol import GenerationRequest
    from videoqa.model._vllm_check import _features, _window

    factor = inner.sampling.patch_factor
    windows = [
        dataclasses.replace(
            _window(0, 3.25, seconds, 12, patch_factor=factor, uneven=False),
            height=8 * factor,
            width=8 * factor,
        )
        for seconds in (5.0, 6.6)
    ]
    hidden = int(inner.model.get_input_embeddings().weight.shape[1])
    embeds = torch.randn(windows[0].visual_tokens, hidden, generator=torch.Generator().manual_seed(1))
    assert windows[0].visual_tokens == 6 * 8 * 8  # 6 temporal patches of 8 x 8 merged tokens
    return [
        GenerationRequest(features=(_features(inner, w, embeds.clone()),), prompt="When?") for w in windows
    ]


class TestPlainVllm:
    def test_plain_vllm_qwen25_is_refused_by_the_self_check(self):
        """Trap 1 end to end: plain vLLM's float64 product of the step videoqa sends (12 frames over 6.6 s)
        gives ``[0, 2, 4, 6, 8, 10]`` where the trained float32 ids are ``[0, 2, 4, 6, 8, 11]``."""
        from videoqa.model._vllm import attach_vllm

        inner = load_model("builtin:tiny-grounder", device="cpu")
        with pytest.raises(ModelError, match=r"failed videoqa's time self-check.*MRoPE positions differ"):
            attach_vllm(inner, exact_time=False)


def test_videoqa_run_engine_vllm_over_the_demo_bucket_gives_the_transformers_rows(tmp_path):
    """The batch job (Ray, one CPU replica): the answers and spans rows of both engines are the same."""
    from videoqa.batch import JobConfig
    from videoqa.batch._demo import write_demo_bucket
    from videoqa.batch._job import run_job
    from videoqa.batch._read import read_tables
    from videoqa.core.settings import Settings

    videos, questions = write_demo_bucket(tmp_path / "bucket")
    model = "builtin:tiny-grounder"
    settings = Settings(**{**Settings.for_model(model).model_dump(), "fps": 1.0, "max_new_tokens": 24})
    tables = {}
    for engine in ("transformers", "vllm"):
        out = tmp_path / engine
        config = JobConfig(
            videos=str(videos),
            questions=str(questions),
            output=str(out),
            model=model,
            settings=settings,
            engine=engine,
            decode_workers=1,
            local_num_cpus=2,
        )
        summary = run_job(config)
        assert summary.failures == 0, summary
        keep = ["item_key", "answer", "choice", "outcome", "raw_text", "num_spans"]
        read = read_tables(str(out), tables=["answers", "spans"], columns={"answers": keep})
        answers = read["answers"].to_pandas().sort_values("item_key")
        spans = read["spans"].to_pandas()
        tables[engine] = (answers.reset_index(drop=True), spans)
    (a, a_spans), (b, b_spans) = tables["transformers"], tables["vllm"]
    assert len(a) > 0 and a.equals(b)
    cols = ["item_key", "start_seconds", "end_seconds"]
    assert (
        a_spans[cols]
        .sort_values(cols)
        .reset_index(drop=True)
        .equals(b_spans[cols].sort_values(cols).reset_index(drop=True))
    )


_TICK_SCRIPT = r"""
import json, sys, types
import numpy as np, torch
from vllm.model_executor.models.qwen2_5_vl import Qwen2_5_VLForConditionalGeneration as Plain
from videoqa.model._vllm_exact import ExactTimeQwen2_5_VL as Exact

VIDEO = 7
second_per_grid, grid = json.loads(sys.argv[1])
tokens = [1, 2, 3] + [VIDEO] * (grid[0] * grid[1] * grid[2] // 4) + [4, 5]
item = {
    "video_grid_thw": types.SimpleNamespace(data=torch.tensor(grid)),
    "second_per_grid_ts": types.SimpleNamespace(data=torch.tensor(second_per_grid, dtype=torch.float32)),
}
feature = types.SimpleNamespace(modality="video", data=item, mm_position=types.SimpleNamespace(offset=3))
vision = types.SimpleNamespace(spatial_merge_size=2, tokens_per_second=2)
model = types.SimpleNamespace(config=types.SimpleNamespace(vision_config=vision, video_token_id=VIDEO))
model.iter_mm_grid_thw = types.MethodType(Plain.iter_mm_grid_thw, model)
out = {}
for name, cls in (("plain", Plain), ("exact", Exact)):
    positions, delta = cls.get_mrope_input_positions(model, tokens, [feature])
    out[name] = [np.asarray(positions).tolist(), int(delta)]
print(json.dumps(out))
"""


def test_vllm_temporal_ids_on_a_tick_and_the_exact_class(tmp_path):
    """Trap 1, at the arithmetic: 12 frames over 5.0 s (a patch every 0.8333 s, ids at 0.5 s ticks).

    The trained (float32) ids are [0, 1, 3, 5, 6, 8]; vLLM's own class gives [0, 1, 3, 4, 6, 8]
    (float64 product, just below the tick 5); videoqa's class gives the float32 ones.
    """
    import json
    import subprocess

    from videoqa.model._inputs import mrope_positions
    from videoqa.model._timing import float32_temporal_ids

    second_per_grid, grid = 2 / (12 / 5.0), [6, 2, 2]
    done = subprocess.run(
        [VLLM_PYTHON, "-c", _TICK_SCRIPT, json.dumps([second_per_grid, grid])],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    got = json.loads(done.stdout.strip().splitlines()[-1])
    ids = float32_temporal_ids(6, second_per_grid=second_per_grid, tokens_per_second=2.0)
    assert ids.tolist() == [0, 1, 3, 5, 6, 8]
    ours = mrope_positions(
        [1, 2, 3] + [7] * 6 + [4, 5], video_token_id=7, grids_thw=[tuple(grid)], temporal_ids=[ids]
    )
    assert np.array_equal(got["exact"][0], ours)
    assert np.asarray(got["plain"][0])[0, 3:9].tolist() == [3, 4, 6, 7, 9, 11]  # 3 + [0, 1, 3, 4, 6, 8]
    assert ours[0, 3:9].tolist() == [3, 4, 6, 8, 9, 11]
    assert got["exact"][1] == int(ours.max()) + 1 - ours.shape[1]

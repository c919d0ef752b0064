"""engine="vllm" gives the transformers runner's prompts, positions, timestamps and greedy answers.

Runs vLLM's CPU build from its own venv: ``bash scripts/make_vllm_venv.sh DEST`` and
``VIDEOQA_VLLM_PYTHON=DEST/bin/python`` (CI: .ci/run makes it). Without it every test here is
skipped with that note. Each vLLM load takes 1-3 minutes on 2 cores, so each model is loaded once
per class and closed after it.

Every ``generate`` of the engine compares vLLM's prompt token ids and MRoPE positions with the
transformers runner's and raises on a difference, so a test that gets answers has already checked
them; the tests here also compare the answers and show the three wrong-time cases of plain vLLM.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import videoqa
from videoqa.errors import ModelError
from videoqa.model import GenerationOptions, load_model
from videoqa.model._vllm_check import self_check_requests

VLLM_PYTHON = os.environ.get("VIDEOQA_VLLM_PYTHON", "")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(VLLM_PYTHON or "/nonexistent").is_file(),
        reason="no vLLM venv: `bash scripts/make_vllm_venv.sh DEST`; VIDEOQA_VLLM_PYTHON=DEST/bin/python",
    ),
]
TASKS = [
    ("qa", "What colour is the square?", None),
    ("grounding", "When is the red square visible?", None),
    ("choice", "Which colour appears?", ["red", "green", "blue", "yellow"]),
]


@pytest.fixture(scope="module", autouse=True)
def _small_kv_cache():
    old = os.environ.get("VLLM_CPU_KVCACHE_SPACE")
    os.environ["VLLM_CPU_KVCACHE_SPACE"] = old or "1"  # GiB: the tiny models need little
    yield
    if old is None:
        os.environ.pop("VLLM_CPU_KVCACHE_SPACE", None)


def _engine(model: str):
    engine = load_model(model, device="cpu", engine="vllm")
    try:
        yield engine
    finally:
        engine.close()


def same_answers(engine, videos, tasks=TASKS, **settings):
    """Every task on every video through Session with vLLM and with the transformers runner it wraps."""
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
        assert [s.raw_texts for s in a.steps] == [s.raw_texts for s in b.steps], (video, task)
        assert [s.prompt_tokens for s in a.steps] == [s.prompt_tokens for s in b.steps], (video, task)
        assert (a.answer, a.spans, a.choice) == (b.answer, b.spans, b.choice), (video, task)
    return answers


def run_raw(engine, request, *, uuids: bool, max_new_tokens: int = 6, **changes):
    """One request through the worker as built by the engine, optionally without its cache identifiers."""
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


class TestGrounder:
    """The shipped grounder (a trained Qwen2.5-VL): time is in its MRoPE ids, so they must match."""

    @pytest.fixture(scope="class")
    @classmethod
    def engine(cls):
        yield from _engine("builtin:tiny-grounder")

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
        """Trap 3b: vLLM keys its caches by content; the time in videoqa's identifiers keeps them apart."""
        first, second = self_check_requests(engine.inner)  # window A's embeddings at 5.0 s, then 6.0 s
        truth = engine.inner.build_inputs([second])["position_ids"][1:, 0]
        ours = [run_raw(engine, r, uuids=True) for r in (first, second)][1]
        assert np.array_equal(ours["positions"], truth)
        assert ours["text"] == engine.inner.generate([second], max_new_tokens=6)[0].text


class TestPlainVllm:
    def test_plain_vllm_qwen25_is_refused_by_the_self_check(self):
        """Trap 1: vLLM's float64 temporal ids are one below the trained float32 ones on ticks."""
        from videoqa.model._grounder import grounder_dir
        from videoqa.model._vllm import load_vllm

        with pytest.raises(ModelError, match=r"failed videoqa's time self-check.*MRoPE positions differ"):
            load_vllm("builtin:tiny-grounder", str(grounder_dir()), device="cpu", exact_time=False)


@pytest.mark.parametrize("model", ["builtin:tiny-qwen2.5-vl", "builtin:tiny-qwen2-vl"])
def test_tiny_qwen2_families_every_task_same_answers(model, event_video):
    for engine in _engine(model):
        same_answers(engine, [event_video], min_pixels=4 * 28 * 28, max_pixels=8 * 28 * 28)


class TestQwen3:
    """Qwen3-VL: time is the ``<t seconds>`` text, true pts on VFR video and late windows."""

    @pytest.fixture(scope="class")
    @classmethod
    def engine(cls):
        yield from _engine("builtin:tiny-qwen3-vl")

    def test_vfr_and_late_windows_same_timestamps_and_answers(self, engine, tmp_path):
        from videoqa.synthetic import write_video

        durations = [1 / 30] * 300 + [0.1] * 100  # 10 s at 30 fps, then 10 s at 10 fps
        vfr = write_video(
            tmp_path / "vfr.mkv",
            duration_seconds=20.0,
            fps=20,
            width=64,
            height=36,
            frame_durations=durations,
        )
        answers = same_answers(
            engine,
            [vfr],
            min_pixels=4 * 28 * 28,
            max_pixels=8 * 28 * 28,
            coarse_window_seconds=5.0,
            strategy="coarse_to_fine",
        )
        late = [w for _, _, a in answers["vllm"] for s in a.steps for w in s.windows if w.start_seconds > 0]
        assert late, "no late-starting window was asked about"

    def test_embeddings_without_timestamps_are_refused(self, engine):
        """Trap 2: without timestamps vLLM would write index / fps; videoqa always sends the true ones."""
        request = self_check_requests(engine.inner)[0]
        with pytest.raises(ModelError, match="timestamps"):
            run_raw(engine, request, uuids=True, timestamps=None)


def test_videoqa_run_engine_vllm_over_the_demo_bucket_gives_the_transformers_rows(tmp_path):
    """The batch job (Ray, one CPU replica): the answers and spans rows of both engines are the same."""
    from videoqa.batch import JobConfig
    from videoqa.batch._demo import write_demo_bucket
    from videoqa.batch._job import run_job
    from videoqa.batch._writer import read_table
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
        answers = read_table(str(out), "answers", columns=keep).to_pandas().sort_values("item_key")
        spans = read_table(str(out), "spans").to_pandas()
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

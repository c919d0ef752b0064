"""Prefix reuse: one prefill of the video for every question about it, the same tokens as full prefills."""

from __future__ import annotations

import dataclasses

import pytest

from tests.model_util import make_clip
from videoqa.analysis import Question
from videoqa.core.prompts import build_prompt
from videoqa.model import GenerationRequest
from videoqa.model._prefix import (
    REUSE_COST,
    PrefixGroup,
    ReuseCost,
    common_prefix_length,
    prefix_groups,
    reuse_pays,
)

V = 9  # a video token id in the pure tests
ALWAYS = ReuseCost(copy_per_token=0.0, step_tokens=0.0)
"""A cost model under which reuse always pays: the tiny models' prompts are far too short for the real one."""


@pytest.fixture
def always_reuse(monkeypatch, tiny_qwen25, tiny_qwen2):
    for m in (tiny_qwen25, tiny_qwen2):
        monkeypatch.setattr(m, "reuse_cost", ALWAYS)


def test_common_prefix_and_groups():
    assert common_prefix_length([[1, 2, 3], [1, 2, 4], [1, 2]]) == 2
    assert common_prefix_length([[5], [6]]) == 0
    assert common_prefix_length([]) == 0
    rows = [[1, V, V, 2, 7, 8], [1, V, V, 2, 7, 3, 3], [1, V, V, 2, 5], [1, V, V, 2, 7, 8]]
    # Requests 0, 1 and 3 are on window "a", request 2 on "b": only the "a" requests share a prefill.
    assert prefix_groups(rows, ["a", "a", "b", "a"], video_token_id=V) == [
        PrefixGroup(indices=(0, 1, 3), prefix_tokens=5)
    ]
    # Identical requests still leave one token each to prefill (it yields the first new token).
    assert prefix_groups([[1, V, 2], [1, V, 2]], ["a", "a"], video_token_id=V) == [
        PrefixGroup(indices=(0, 1), prefix_tokens=2)
    ]
    # Text before the video makes the shared prefix stop before the video: prefilled in full.
    assert prefix_groups([[1, 4, V, 2], [1, 5, V, 2]], ["a", "a"], video_token_id=V) == []
    assert prefix_groups([[1, V, 2]], ["a"], video_token_id=V) == []


_QUESTIONS = [
    Question(question_id="qa", question="What colour is the square?", task="qa"),
    Question(question_id="choice", question="Which colour?", task="choice", options=["red", "blue", "green"]),
    Question(question_id="grounding", question="a red square appears", task="grounding"),
    Question(question_id="events", question="List the events.", task="events"),
]


def _prompts():
    return [build_prompt(q, style=style) for style in ("qwen_cookbook", "lmms_eval") for q in _QUESTIONS]


def _full_prefills(m, requests, max_new_tokens):
    off = dataclasses.replace(m.load_options, prefix_reuse=False)
    original, m.load_options = m.load_options, off
    try:
        return [m.generate([r], max_new_tokens=max_new_tokens)[0] for r in requests]
    finally:
        m.load_options = original


def _visible(generation):
    return generation.text, generation.input_tokens, generation.output_tokens


@pytest.mark.parametrize("model_fixture", ["tiny_qwen25", "tiny_qwen2"])
@pytest.mark.usefixtures("always_reuse")
def test_reused_prefix_generates_the_tokens_of_full_prefills(request, model_fixture):
    m = request.getfixturevalue(model_fixture)
    features = m.encode(make_clip(8, 1.0, height=56, width=84, start=30.0, seed=11))
    requests = [GenerationRequest(features=(features,), prompt=p) for p in _prompts()]
    assert len({len(p) for p in _prompts()}) > 4  # questions of different lengths in one call
    expected = _full_prefills(m, requests, max_new_tokens=10)
    reused = m.generate(requests, max_new_tokens=10)
    assert [_visible(g) for g in reused] == [_visible(g) for g in expected]
    assert any(g.output_tokens >= 4 for g in reused)  # real continuations, not immediate stops
    # The first request computes the shared prefix; every later one reuses all of it: the system
    # prompt, the user turn start and the whole video block (4 patches x 6 tokens here).
    cached = [g.cached_prefix_tokens for g in reused]
    assert cached[0] == 0 and len(set(cached[1:])) == 1
    assert features.window.visual_tokens < cached[1] < min(g.input_tokens for g in reused)


@pytest.mark.usefixtures("always_reuse")
def test_reuse_across_two_windows_and_a_mixed_call(tiny_qwen25):
    m = tiny_qwen25
    a = m.encode(make_clip(4, 2.0, seed=12))
    b = m.encode(make_clip(4, 2.0, start=2.0, seed=13))
    requests = [
        GenerationRequest(features=(a, b), prompt="What changes between the two clips?"),
        GenerationRequest(features=(a,), prompt="Colour?"),
        GenerationRequest(features=(a, b), prompt="When does the square appear?"),
        GenerationRequest(features=(a,), prompt="Describe the first clip in one sentence."),
        GenerationRequest(features=(b,), prompt="Alone on its window."),
    ]
    expected = _full_prefills(m, requests, max_new_tokens=8)
    reused = m.generate(requests, max_new_tokens=8)
    assert [_visible(g) for g in reused] == [_visible(g) for g in expected]
    assert [g.cached_prefix_tokens > 0 for g in reused] == [False, False, True, True, False]


def test_reuse_can_be_switched_off(tiny_qwen25, monkeypatch):
    m = tiny_qwen25
    features = m.encode(make_clip(4, 2.0, seed=14))
    requests = [GenerationRequest(features=(features,), prompt=p) for p in ("Colour?", "Shape?")]
    monkeypatch.setattr(m, "load_options", dataclasses.replace(m.load_options, prefix_reuse=False))
    assert [g.cached_prefix_tokens for g in m.generate(requests, max_new_tokens=2)] == [0, 0]


@pytest.mark.usefixtures("always_reuse")
def test_a_session_reuses_the_video_prefix_across_questions_and_records_it(tiny_qwen25, event_video):
    import videoqa
    from videoqa.records import analysis_to_rows

    questions = [
        Question(question_id="g", question="the red square appears", task="grounding"),
        Question(question_id="q", question="What colour is the square?", task="qa"),
        Question(question_id="c", question="Which colour?", task="choice", options=["red", "blue"]),
    ]
    session = videoqa.Session(tiny_qwen25, fps=1.0, max_new_tokens=8)
    reused = session.analyze_many(event_video, questions, strategy="single")
    off = dataclasses.replace(tiny_qwen25.load_options, prefix_reuse=False)
    original, tiny_qwen25.load_options = tiny_qwen25.load_options, off
    try:
        full = session.analyze_many(event_video, questions, strategy="single")
    finally:
        tiny_qwen25.load_options = original
    assert [a.raw_text for a in reused] == [a.raw_text for a in full]
    tokens = [a.steps[0].prompt_tokens[0] for a in reused]
    shared = [a.steps[0].reused_prompt_tokens[0] for a in reused]
    assert tokens == [a.steps[0].prompt_tokens[0] for a in full]
    visual = reused[0].windows[0].visual_tokens
    assert shared[0] == 0 and shared[1] == shared[2] and visual < shared[1] < min(tokens)
    assert [a.steps[0].reused_prompt_tokens[0] for a in full] == [0, 0, 0]
    rows = analysis_to_rows(
        reused[2],
        video=str(event_video),
        video_id="events",
        model_id="tiny",
        settings=reused[2].settings,
        config=reused[2].config_hash,
    )
    (answer,) = rows.answers
    assert (answer["prompt_tokens"], answer["reused_prompt_tokens"]) == (tokens[2], shared[2])


@pytest.mark.usefixtures("always_reuse")
def test_the_coarse_pass_of_several_questions_shares_each_windows_prefix(tiny_qwen25, event_video):
    import videoqa

    questions = [
        Question(question_id="g", question="the red square appears", task="grounding"),
        Question(question_id="b", question="the blue square appears", task="grounding"),
    ]
    session = videoqa.Session(tiny_qwen25, coarse_fps=0.5, coarse_window_seconds=30.0, max_new_tokens=6)
    analyses = session.analyze_many(event_video, questions, strategy="coarse_to_fine")
    coarse = [a.steps[0] for a in analyses]
    assert [s.name for s in coarse] == ["coarse", "coarse"] and len(coarse[0].windows) == 2
    # The first question's requests prefill each window; the second's reuse them.
    assert coarse[0].reused_prompt_tokens == [0, 0]
    assert all(
        w.visual_tokens < r < p
        for w, r, p in zip(
            coarse[1].windows, coarse[1].reused_prompt_tokens, coarse[1].prompt_tokens, strict=True
        )
    )


def test_reuse_pays_only_when_the_saved_prefill_outweighs_the_copies_and_the_extra_calls():
    # Long shared video, few short questions: one prefill instead of four pays (benchmarks/prefix.py).
    assert reuse_pays(shared_tokens=4096, unshared_tokens=[12, 9, 15, 11], batched_calls=1, max_new_tokens=16)
    # plain 4 x (4096 + 15) = 16,444 > reuse 4,096 + 47 + 4 x 4,096 x 0.05 + 3 x 16 x 30 = 6,402.2
    assert ReuseCost(copy_per_token=0.05, step_tokens=30.0) == REUSE_COST
    # The tiny grounder's short prompts: 200 questions, 150 shared tokens; each extra call costs more.
    assert not reuse_pays(shared_tokens=150, unshared_tokens=[12] * 200, batched_calls=25, max_new_tokens=24)
    # 8 questions on a 300-token prefix: 2,560 plain < 300 + 160 + 120 + 7 x 16 x 30 = 3,940.
    assert not reuse_pays(shared_tokens=300, unshared_tokens=[20] * 8, batched_calls=1, max_new_tokens=16)
    # Each request alone anyway (no extra calls): only the copies count against it.
    assert reuse_pays(shared_tokens=100, unshared_tokens=[1, 1], batched_calls=2, max_new_tokens=16)
    # One request, or nothing shared: nothing to reuse.
    assert not reuse_pays(shared_tokens=4096, unshared_tokens=[12], batched_calls=1, max_new_tokens=16)
    assert not reuse_pays(shared_tokens=0, unshared_tokens=[12, 12], batched_calls=1, max_new_tokens=16)


def test_reuse_decision_is_exact_at_the_boundary_and_counts_padding():
    cost = ReuseCost(copy_per_token=0.0, step_tokens=1.0)
    # plain 2 x (10 + 1) = 22; reuse 10 + 2 + (2 - 1) x max_new_tokens: equal at 10 (no gain: plain)
    assert not reuse_pays(
        shared_tokens=10, unshared_tokens=[1, 1], batched_calls=1, max_new_tokens=10, cost=cost
    )
    assert reuse_pays(shared_tokens=10, unshared_tokens=[1, 1], batched_calls=1, max_new_tokens=9, cost=cost)
    # A long unshared row pads the plain batch: 2 x (100 + 200) = 600 > 100 + 201 + 150 = 451.
    assert reuse_pays(
        shared_tokens=100, unshared_tokens=[1, 200], batched_calls=1, max_new_tokens=150, cost=cost
    )
    assert not reuse_pays(
        shared_tokens=100, unshared_tokens=[1, 1], batched_calls=1, max_new_tokens=150, cost=cost
    )
    assert reuse_pays(
        shared_tokens=1, unshared_tokens=[1, 1], batched_calls=1, max_new_tokens=99, cost=ALWAYS
    )


def test_a_call_where_reuse_does_not_pay_is_prefilled_in_batches_with_the_same_answers(
    tiny_qwen25, monkeypatch
):
    m = tiny_qwen25
    features = m.encode(make_clip(8, 1.0, height=56, width=84, start=30.0, seed=11))
    words = ["Colour?", "Shape?", "Size?", "Where?", "When?", "Moving?", "Why?", "Which?"]
    requests = [GenerationRequest(features=(features,), prompt=w) for w in words]
    # Short questions of one length share one batched call; a call each (reuse) costs more decoding
    # than the 24 visual tokens' prefill it would save.
    assert m.reuse_cost == REUSE_COST
    plain = m.generate(requests, max_new_tokens=10)
    assert [g.cached_prefix_tokens for g in plain] == [0] * len(requests)
    monkeypatch.setattr(m, "reuse_cost", ALWAYS)
    reused = m.generate(requests, max_new_tokens=10)
    assert [_visible(g) for g in plain] == [_visible(g) for g in reused]
    assert [g.cached_prefix_tokens > 0 for g in reused] == [False] + [True] * (len(requests) - 1)

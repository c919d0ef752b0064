"""Strategy planning and bookkeeping: auto choice, candidate regions, time mapping, ranking."""

from __future__ import annotations

import pytest

from videoqa.analysis import Question, Span
from videoqa.core._passes import interpret
from videoqa.core._strategies import (
    Candidate,
    candidate_regions,
    coarse_plan,
    fine_plan,
    first_pass_prompt,
    map_spans,
    rank_regions,
    resolve_strategy,
    single_plan,
)
from videoqa.core.parsing import ParsedSpan
from videoqa.core.prompts import build_prompt, search_prompt
from videoqa.core.settings import Settings
from videoqa.model.families import family
from videoqa.synthetic import planned_info
from videoqa.video._types import VideoInfo


def _info(duration=7200.0, start=0.0, fps=2.0) -> VideoInfo:
    return planned_info(
        duration_seconds=duration, fps=fps, width=112, height=64, start_seconds=start, source="v.mp4"
    )


SMALL = Settings(min_pixels=16 * 28 * 28, max_pixels=16 * 28 * 28)
QWEN25 = family("qwen2.5-vl").sampling


@pytest.mark.parametrize(
    ("duration", "max_frames", "expected"),
    [
        (1536.0, 768, "single"),  # 768 / 1536 = 0.5 fps exactly: still useful
        (1537.0, 768, "coarse_to_fine"),
        (7200.0, 768, "coarse_to_fine"),
        (60.0, 768, "single"),
        (100.0, 50, "single"),
        (100.0, 49, "coarse_to_fine"),  # frames come in pairs: 48 / 100 = 0.48 fps
    ],
)
def test_auto_picks_coarse_to_fine_below_half_an_fps(duration, max_frames, expected):
    options = Settings(max_frames=max_frames)
    assert resolve_strategy("auto", _info(duration), options) == expected


def test_explicit_strategies_are_kept_and_bad_ones_named():
    assert resolve_strategy("single", _info(7200.0), SMALL) == "single"
    assert resolve_strategy("coarse_to_fine", _info(10.0), SMALL) == "coarse_to_fine"
    with pytest.raises(ValueError, match="strategy must be one of"):
        resolve_strategy("fast", _info(), SMALL)


def test_plans_follow_the_options():
    single = single_plan(_info(7200.0), SMALL, QWEN25)
    assert len(single.windows) == 1
    assert (single.windows[0].num_frames, single.windows[0].sampled_fps) == (768, 768 / 7200.0)
    coarse = coarse_plan(_info(7200.0), SMALL, QWEN25)
    assert [w.start_seconds for w in coarse.windows] == [600.0 * i for i in range(12)]
    assert {(w.num_frames, w.sampled_fps) for w in coarse.windows} == {(300, 0.5)}


def test_fine_plan_one_window_per_region_at_2_fps():
    plan = fine_plan(_info(7200.0, start=5.0), [(35.0, 47.0), (100.0, 103.0)], SMALL, QWEN25)
    assert [w.index for w in plan.windows] == [0, 1]
    first, second = plan.windows
    assert (first.start_seconds, first.end_seconds, first.num_frames, first.sampled_fps) == (
        35.0,
        47.0,
        24,
        2.0,
    )
    assert first.pts_seconds[:3] == (35.0, 35.5, 36.0)
    assert (second.num_frames, second.sampled_fps) == (6, 2.0)
    with pytest.raises(ValueError, match="at least one region"):
        fine_plan(_info(), [], SMALL, QWEN25)


def test_map_spans_adds_the_origin_swaps_and_clamps():
    info = _info(duration=100.0, start=10.0)  # video spans [10, 110)
    parsed = [ParsedSpan(2.0, 9.0, "x"), ParsedSpan(-20.0, 5.0), ParsedSpan(90.0, 200.0)]
    spans = map_spans(parsed, origin_seconds=35.0, info=info, keep_labels=True)
    assert spans == [
        Span(start_seconds=37.0, end_seconds=44.0, label="x"),
        Span(start_seconds=15.0, end_seconds=40.0),
    ]  # 125-235 s lies wholly after the video: dropped, not a zero-length span at 110 s
    assert map_spans([ParsedSpan(9.0, 2.0, "x")], origin_seconds=0.0, info=info, keep_labels=False) == []
    assert map_spans([ParsedSpan(0.0, 10.0)], origin_seconds=0.0, info=info, keep_labels=False) == [
        Span(start_seconds=10.0, end_seconds=10.0)  # touches the start: kept
    ]


def test_interpret_reports_spans_beyond_the_video_as_out_of_range():
    info = _info(duration=60.0)
    q = Question(question="red", task="grounding")
    far = interpret(q, "The event happens in 100000 - 200000 seconds.", origin_seconds=0.0, info=info)
    assert (far.spans, far.answer, far.outcome) == ([], "", "unparsed")
    assert far.parse_error == "the model's span(s) 100000.0 - 200000.0 s lie outside the video (0.0 - 60.0 s)"
    part = interpret(q, "The event happens in 50 - 200000 seconds.", origin_seconds=0.0, info=info)
    assert (part.spans, part.parse_error) == ([Span(start_seconds=50.0, end_seconds=60.0)], None)


def test_map_spans_within_a_window_drops_what_the_model_cannot_have_seen():
    info = _info(duration=7200.0)
    parsed = [ParsedSpan(38.0, 44.0), ParsedSpan(590.0, 700.0), ParsedSpan(900.0, 950.0)]
    spans = map_spans(parsed, origin_seconds=600.0, info=info, keep_labels=False, within=(600.0, 1200.0))
    assert spans == [
        Span(start_seconds=638.0, end_seconds=644.0),
        Span(start_seconds=1190.0, end_seconds=1200.0),
    ]


def test_candidate_regions_pad_clamp_merge_and_cap():
    info = _info(duration=7200.0)
    found = [
        (Span(start_seconds=38.0, end_seconds=44.0), 0.5),  # pad max(3, 1/0.5 = 2) = 3
        (Span(start_seconds=46.0, end_seconds=48.0), 0.5),  # overlaps once padded: merged
        (Span(start_seconds=1.0, end_seconds=2.0), 0.2),  # pad 5, clamped at 0
        (Span(start_seconds=7199.0, end_seconds=7200.0), 0.5),
        (Span(start_seconds=3000.0, end_seconds=3010.0), 0.5),
        (Span(start_seconds=5000.0, end_seconds=5001.0), 0.5),
    ]
    regions = candidate_regions(found, info, Settings(max_candidates=4))
    assert regions == [
        Candidate(region=(0.0, 7.0), coarse=(1.0, 2.0)),
        Candidate(region=(35.0, 51.0), coarse=(38.0, 48.0)),
        Candidate(region=(2997.0, 3013.0), coarse=(3000.0, 3010.0)),
        Candidate(region=(4997.0, 5004.0), coarse=(5000.0, 5001.0)),
    ]
    assert candidate_regions([], info, SMALL) == []


def test_rank_regions_prefers_agreement_with_the_coarse_pass():
    per_region = [
        ([Span(start_seconds=0.0, end_seconds=50.0)], (10.0, 12.0)),  # IoU 2/50
        ([], (100.0, 110.0)),  # fine pass found nothing here
        ([Span(start_seconds=37.0, end_seconds=44.0)], (38.0, 44.0)),  # IoU 6/7
        ([Span(start_seconds=300.0, end_seconds=310.0)], (300.0, 310.0)),  # IoU 1
    ]
    assert rank_regions(per_region) == [3, 2, 0]


def test_first_pass_prompts():
    choice = Question(question="What colour?", task="choice", options=["red", "blue"])
    grounding = Question(question="the red square", task="grounding")
    assert first_pass_prompt(choice, "single") == build_prompt(choice)
    assert first_pass_prompt(choice, "coarse_to_fine") == search_prompt("What colour?")
    assert first_pass_prompt(grounding, "coarse_to_fine") == build_prompt(grounding)


def test_interpret_each_task():
    info = _info(duration=60.0)
    grounding = interpret(
        Question(question="red", task="grounding"),
        "The event happens in 2.0 - 9.0 seconds.",
        origin_seconds=35.0,
        info=info,
    )
    assert (grounding.answer, grounding.spans, grounding.parse_error) == (
        "37.0 - 44.0 seconds",
        [Span(start_seconds=37.0, end_seconds=44.0)],
        None,
    )
    choice = interpret(
        Question(question="c?", task="choice", options=["red", "blue"]), "(B)", origin_seconds=0.0, info=info
    )
    assert (choice.answer, choice.choice, choice.parse_error) == ("(B) blue", "B", None)
    nothing = interpret(Question(question="red", task="grounding"), "No idea.", origin_seconds=0.0, info=info)
    assert (nothing.answer, nothing.spans) == ("", [])
    assert nothing.parse_error == "no time found in the model's text 'No idea.'"
    qa = interpret(Question(question="what?"), "  A red square.\n", origin_seconds=0.0, info=info)
    assert (qa.answer, qa.spans, qa.choice, qa.parse_error) == ("A red square.", [], None, None)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"coarse_fps": 0}, "coarse_fps must be a finite number > 0"),
        ({"fine_fps": float("nan")}, "fine_fps must be a finite number > 0"),
        ({"fine_padding_seconds": -1}, "fine_padding_seconds must be >= 0"),
        ({"max_candidates": 0}, "max_candidates must be an integer >= 1"),
        ({"max_candidates": True}, "max_candidates\n  Input should be a valid integer"),
        ({"coarse_fps": True}, "coarse_fps\n  Input should be a valid number"),
        ({"fine_padding_seconds": True}, "fine_padding_seconds\n  Input should be a valid number"),
        ({"fps": "2"}, "fps\n  Input should be a valid number"),
        ({"max_new_tokens": 0}, "max_new_tokens must be an integer >= 1, got 0"),
        ({"repetition_penalty": 0.0}, "repetition_penalty must be a finite number > 0"),
        ({"temperature": 0.7}, r"temperature apply only with do_sample=True \(greedy decoding ignores"),
        ({"top_p": 0.9, "top_k": 20}, "top_p, top_k apply only with do_sample=True"),
        ({"strategy": "fast"}, "strategy\n  Input should be 'auto', 'single' or 'coarse_to_fine'"),
        ({"frames": 8}, "frames\n  Extra inputs are not permitted"),
        # The sampling budgets fail when the options are built, by plan_sampling's own rules.
        ({"fps": 0}, "fps must be a finite number > 0, got 0"),
        ({"max_frames": 1}, "max_frames must be an integer >= 2, got 1"),
        ({"min_frames": 10, "max_frames": 9}, r"max_frames \(9\) must be >= min_frames \(10\)"),
        ({"min_pixels": 100, "max_pixels": 99}, r"max_pixels \(99\) must be >= min_pixels \(100\)"),
    ],
)
def test_settings_are_validated_when_built(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Settings(**kwargs)

"""Timed text in the prompt: the layout per family, the token budget, prefix reuse, the Session path."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from tests.model_util import make_clip
from tests.test_model_prefix import _full_prefills, _visible
from videoqa import Session
from videoqa.model import GenerationRequest
from videoqa.synthetic import write_video
from videoqa.text import Cue, TimedText
from videoqa.text._layout import BLOCK_HEADER, cue_block, cue_line, fit_cues, interleave_cues, spread_order


def _words(text: str) -> int:
    return len(text.split())


def _cue(start: float, end: float, text: str) -> Cue:
    return Cue(start, end, text, "en", "sidecar:t.srt")


def test_cue_lines_are_relative_to_the_request_origin():
    assert (
        cue_line(_cue(31.0, 32.54, "the budget"), origin_seconds=30.0) == "[1.0 - 2.5 seconds] the budget\n"
    )
    # a cue that started before the window is written from its start (never a negative time)
    assert cue_line(_cue(28.0, 31.0, "earlier"), origin_seconds=30.0) == "[0.0 - 1.0 seconds] earlier\n"


def test_over_the_budget_cues_are_kept_evenly_and_in_time_order():
    assert spread_order(5) == [0, 4, 2, 1, 3]
    assert spread_order(1) == [0] and spread_order(0) == []
    lines = [f"w{k} x\n" for k in range(9)]  # 2 words each
    assert fit_cues(lines, max_tokens=18, count_tokens=_words) == list(range(9))
    assert fit_cues(lines, max_tokens=6, count_tokens=_words) == [0, 4, 8]
    assert fit_cues(lines, max_tokens=7, count_tokens=_words) == [0, 4, 8]
    assert fit_cues(lines, max_tokens=1, count_tokens=_words) == []


def test_block_layout_and_its_budget():
    cues = [_cue(31.0, 32.5, "one two"), _cue(33.0, 34.0, "three"), _cue(35.0, 36.0, "four five")]
    header = _words(BLOCK_HEADER)
    full = cue_block(cues, origin_seconds=30.0, max_tokens=100, count_tokens=_words)
    assert full == (
        BLOCK_HEADER
        + "[1.0 - 2.5 seconds] one two\n[3.0 - 4.0 seconds] three\n[5.0 - 6.0 seconds] four five\n"
    )
    # lines cost 6, 5 and 6 words: a budget of header + 12 keeps the first and last
    kept = cue_block(cues, origin_seconds=30.0, max_tokens=header + 12, count_tokens=_words)
    assert kept == BLOCK_HEADER + "[1.0 - 2.5 seconds] one two\n[5.0 - 6.0 seconds] four five\n"
    assert _words(kept) <= header + 12
    assert cue_block(cues, origin_seconds=30.0, max_tokens=header, count_tokens=_words) == ""
    assert cue_block([], origin_seconds=0.0, max_tokens=100, count_tokens=_words) == ""


def test_interleaved_layout_puts_each_cue_after_the_patch_on_screen_when_it_starts():
    cues = [_cue(9.0, 10.5, "before"), _cue(11.2, 11.8, "second patch"), _cue(13.0, 14.0, "last")]
    after = interleave_cues(
        cues,
        patch_starts_seconds=[0.0, 1.0, 2.0, 3.0],
        origin_seconds=10.0,
        max_tokens=100,
        count_tokens=_words,
    )
    assert after == [
        "[0.0 - 0.5 seconds] before\n",
        "[1.2 - 1.8 seconds] second patch\n",
        "",
        "[3.0 - 4.0 seconds] last\n",
    ]


CUES = (_cue(31.0, 32.5, "the budget is approved"), _cue(35.0, 36.0, "we adjourn"))


def _text(model, request: GenerationRequest) -> str:
    ids = model.build_inputs([request])["input_ids"][0]
    return model.tokenizer.decode([int(i) for i in ids if int(i) != model.pad_token_id])


def test_qwen25_block_sits_between_the_video_and_the_question(tiny_qwen25):
    m = tiny_qwen25
    features = m.encode(make_clip(8, 1.0, height=56, width=84, start=30.0, seed=11))
    prompt = "When is the budget approved?"
    with_text = GenerationRequest((features,), prompt, timed_text=TimedText(CUES, 2048))
    text = _text(m, with_text)
    block = BLOCK_HEADER + "[1.0 - 2.5 seconds] the budget is approved\n[5.0 - 6.0 seconds] we adjourn\n"
    assert "<|vision_end|>" + block + prompt in text
    plain = _text(m, GenerationRequest((features,), prompt))
    assert plain == text.replace(block, "")
    # within the budget: the kept lines, header included, count at most max_tokens tokens
    first = BLOCK_HEADER + "[1.0 - 2.5 seconds] the budget is approved\n"
    budget = m.count_text_tokens(BLOCK_HEADER) + m.count_text_tokens(first[len(BLOCK_HEADER) :])
    tight = _text(m, GenerationRequest((features,), prompt, timed_text=TimedText(CUES, budget)))
    assert "<|vision_end|>" + first + prompt in tight


def test_qwen3_cues_follow_their_timestamped_patch(tiny_qwen3):
    m = tiny_qwen3
    features = m.encode(make_clip(8, 2.0, height=64, width=64, start=10.0, seed=3))
    cues = (_cue(11.2, 11.8, "second patch words"),)
    text = _text(m, GenerationRequest((features,), "What is said?", timed_text=TimedText(cues, 2048)))
    patches = re.findall(
        r"<(\d+\.\d) seconds><\|vision_start\|>(?:<\|video_pad\|>)+<\|vision_end\|>([^<]*)", text
    )
    assert patches == [
        ("0.2", ""),
        ("1.2", "[1.2 - 1.8 seconds] second patch words\n"),
        ("2.2", ""),
        ("3.2", "What is said?"),  # the question follows the last patch (no outer vision_end)
    ]


@pytest.mark.parametrize("model_fixture", ["tiny_qwen25", "tiny_qwen3"])
def test_prefix_reuse_covers_the_timed_text_and_changes_no_answer(request, model_fixture, monkeypatch):
    from tests.test_model_prefix import ALWAYS

    m = request.getfixturevalue(model_fixture)
    monkeypatch.setattr(m, "reuse_cost", ALWAYS)  # the tiny prompts are too short for reuse to pay
    size = 64 if model_fixture == "tiny_qwen3" else 56
    features = m.encode(make_clip(8, 1.0, height=size, width=size, start=30.0, seed=5))
    timed = TimedText(CUES, 2048)
    prompts = ["When is the budget approved?", "What do they say at the end?", "Who speaks?"]
    requests = [GenerationRequest((features,), p, timed_text=timed) for p in prompts]
    expected = _full_prefills(m, requests, max_new_tokens=6)
    reused = m.generate(requests, max_new_tokens=6)
    assert [_visible(g) for g in reused] == [_visible(g) for g in expected]
    # the shared prefix runs through the video and its cues: all of it is reused by the later requests
    cue_tokens = sum(m.count_text_tokens(cue_line(c, origin_seconds=30.0)) for c in CUES)
    assert reused[1].cached_prefix_tokens > features.window.visual_tokens + cue_tokens
    without = m.generate([dataclasses.replace(r, timed_text=None) for r in requests], max_new_tokens=6)
    assert reused[1].input_tokens - without[1].input_tokens >= cue_tokens


SRT = "1\n00:00:01,000 --> 00:00:02,500\nthe red square\n\n2\n00:00:07,000 --> 00:00:08,000\nblue now\n"


def test_session_reads_the_sidecar_and_records_the_cues(tmp_path: Path, tiny_qwen25):
    video = write_video(tmp_path / "talk.mp4", duration_seconds=6.0, fps=4, start_seconds=2.0)
    session = Session(tiny_qwen25, max_new_tokens=4, min_pixels=8 * 28 * 28, max_pixels=8 * 28 * 28)
    before = session.analyze(video, "What is said?")
    assert before.subtitles is not None and before.subtitles.cues == []
    assert before.subtitles.notes == ["no subtitle file or text subtitle stream"]
    none = session.analyze(video, "What is said?", subtitles=None)
    assert none.subtitles is None and none.raw_text == before.raw_text
    assert none.steps[0].prompt_tokens == before.steps[0].prompt_tokens
    (tmp_path / "talk.srt").write_text(SRT, encoding="utf-8")
    a = session.analyze(video, "What is said?")
    assert a.subtitles.kind == "sidecar" and a.subtitles.source == str(tmp_path / "talk.srt")
    # the file's times count from the first frame (2.0 s); the second cue starts after the video (8.0 s)
    assert [(c.start_seconds, c.end_seconds, c.text) for c in a.subtitles.cues] == [
        (3.0, 4.5, "the red square")
    ]
    assert a.subtitles.notes == ["1 cue(s) start at or after the end of the video (8.000 s): dropped"]
    assert a.steps[0].prompt_tokens[0] > before.steps[0].prompt_tokens[0]
    off = Session(
        tiny_qwen25, max_new_tokens=4, min_pixels=8 * 28 * 28, max_pixels=8 * 28 * 28, subtitles_max_tokens=0
    )
    assert off.analyze(video, "What is said?").steps[0].prompt_tokens == before.steps[0].prompt_tokens


def test_the_new_setting_keeps_every_existing_config_hash():
    from videoqa.core.settings import Settings, config_hash

    # hashes main published before the setting existed
    assert config_hash("builtin:scripted", Settings()) == "1a6631bba043fafb"
    assert (
        config_hash("Qwen/Qwen3-VL-8B-Instruct", Settings(fps=1.0), family="qwen3-vl") == "c417d15d0e30a35a"
    )
    assert config_hash("builtin:scripted", Settings(subtitles_max_tokens=512)) != "1a6631bba043fafb"
    # a row written before the column existed reads the default
    row = Settings(subtitles_max_tokens=512).columns()
    assert Settings.from_columns(row).subtitles_max_tokens == 512
    del row["subtitles_max_tokens"]
    assert Settings.from_columns(row) == Settings()
    with pytest.raises(ValueError, match="subtitles_max_tokens"):
        Settings(subtitles_max_tokens=-1)

"""Prompt templates: exact text for each task and style.

Peers written against (tests/peers.py): lmms-eval at the commit recorded in
tests/data/lmms_eval_reference.json (restated prompts).
"""

from __future__ import annotations

import pytest

from videoqa.analysis import Question
from videoqa.core.prompts import (
    build_prompt,
    choice_prompt,
    events_prompt,
    grounding_prompt,
    option_letters,
    qa_prompt,
    search_prompt,
)


def test_grounding_prompt_cookbook():
    assert grounding_prompt("a red square appears") == (
        "Give the query: 'a red square appears', when does the described content occur in the video? "
        "Answer with its start and end time in seconds, in the format "
        "'The event happens in <start time> - <end time> seconds'. "
        "If it does not occur, say that it does not occur."
    )


def test_grounding_prompt_lmms_eval_reproduces_the_reference_text():
    text = grounding_prompt("person turns a light on.", style="lmms_eval")
    assert text.startswith("Please find the visual event described by a sentence in the video")
    assert "happens in the 24.3 - 30.4 seonds." in text  # the reference's typo, kept on purpose
    assert text.endswith(
        "textual sentence: person turns a light on.. Please return its start time and end time."
    )


def test_events_prompt_asks_for_json_with_clock_times():
    assert events_prompt() == (
        "Localize a series of activity events in the video, output the start and end timestamp for each "
        "event, and describe each event with sentences. Provide the result in json format with 'mm:ss.ff' "
        "format for time depiction."
    )


def test_choice_prompt_lists_options_with_letters():
    assert choice_prompt("What colour is the square?", ["red", "blue", "green"]) == (
        "What colour is the square?\n(A) red\n(B) blue\n(C) green\n"
        "Answer with the option's letter from the given choices directly."
    )
    assert option_letters(4) == ("A", "B", "C", "D")


def test_qa_and_search_prompts():
    assert qa_prompt("  What happens?  ") == "What happens?"
    assert search_prompt("What colour is it?").startswith(
        "Give the query: 'What colour is it?', when does content relevant to it occur in the video?"
    )


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        (Question(question="Where?", task="qa"), "Where?"),
        (Question(question="a red square", task="grounding"), grounding_prompt("a red square")),
        (Question(question="list events", task="events"), events_prompt()),
        (Question(question="Which?", task="choice", options=["x", "y"]), choice_prompt("Which?", ["x", "y"])),
        (Question(question="ignored", task="grounding", prompt="EXACT TEXT"), "EXACT TEXT"),
    ],
)
def test_build_prompt(question, expected):
    assert build_prompt(question) == expected


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: grounding_prompt(""), "query must be a non-empty string"),
        (lambda: grounding_prompt("x", style="vllm"), "style must be one of"),
        (lambda: choice_prompt("Which?", []), "options must be a non-empty list"),
        (lambda: choice_prompt("Which?", "abc"), "options must be a non-empty list"),
        (lambda: option_letters(27), "1 to 26 options"),
        # Question itself rejects this since issue 9; model_construct skips that to test build_prompt
        (
            lambda: build_prompt(Question.model_construct(question="Which?", task="choice", prompt=None)),
            "task='choice' but no options",
        ),
        (lambda: Question(question="Which?", task="choice"), "task='choice' needs options"),
    ],
)
def test_bad_arguments_name_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call()

"""lmms-eval prompt styles of MLVU, LongVideoBench, ActivityNet Captions and QVHighlights: the exact
text of one item each (restated from lmms-eval's tasks ``mlvu_dev``, ``longvideobench_val_v``,
``timelens_activitynet`` and ``timelens_qvhighlights``; sources in each benchmark's module), the
``max_new_tokens`` the style runs with, and ``native`` still the default."""

from __future__ import annotations

import pytest

from videoqa.eval import get_benchmark
from videoqa.eval._charades import GroundingItem
from videoqa.eval._choice import ChoiceQuestion
from videoqa.eval._run import eval_settings
from videoqa.eval.benchmarks.mlvu import MLVUItem
from videoqa.eval.benchmarks.qvhighlights import MomentItem

TIMELENS = (
    "Please find the visual event described by the sentence '{}', determining its starting and ending "
    "times. The format should be: 'The event happens in <start time> - <end time> seconds'."
)


def test_mlvu_lmms_eval_prompt():
    item = MLVUItem("count_0", "count_126", "AC", "count", "How many times does the trombone appear?",
                    ("2", "1", "5", "4"), "1")  # fmt: skip
    assert get_benchmark("mlvu").question(item, "lmms_eval").prompt == (
        "How many times does the trombone appear?\n(A) 2\n(B) 1\n(C) 5\n(D) 4\n"
        "Only give the best option.\nBest option: ("
    )


def test_longvideobench_lmms_eval_prompt():
    item = ChoiceQuestion("86CxyhFV9MI_0", "86CxyhFV9MI", "What is the man holding?",
                          ("a cup", "a phone", "a book", "a pen", "nothing"), ("B",))  # fmt: skip
    question = get_benchmark("longvideobench").question(item, "lmms_eval")
    assert question.prompt == (
        "What is the man holding?\nA. a cup\nB. a phone\nC. a book\nD. a pen\nE. nothing\n"
        "Answer with the option's letter from the given choices directly.\n"
    )
    assert question.options == ["a cup", "a phone", "a book", "a pen", "nothing"]


def test_activitynet_captions_and_qvhighlights_lmms_eval_prompts():
    anc = GroundingItem("v_abc#0", "v_abc", "A man is seen speaking to the camera.", 0.0, 12.5, 120.0)
    question = get_benchmark("activitynet-captions").question(anc, "lmms_eval")
    assert question.prompt == TIMELENS.format("A man is seen speaking to the camera.")
    assert question.task == "grounding" and question.question == anc.sentence
    qvh = MomentItem(2579, "NUsG9BgSes0_210.0_360.0", "a girl shows her shoes", ((10.0, 20.0),), 150.0)
    assert get_benchmark("qvhighlights").question(qvh, "lmms_eval").prompt == TIMELENS.format(
        "a girl shows her shoes"
    )


@pytest.mark.parametrize(
    ("name", "tokens"),
    [("mlvu", 16), ("longvideobench", 32), ("activitynet-captions", 50), ("qvhighlights", 50)],
)
def test_lmms_eval_style_is_offered_with_its_tokens_and_native_stays_the_default(name, tokens):
    declared = get_benchmark(name)
    assert declared.prompt_styles == ("native", "lmms_eval")
    assert eval_settings(name, "lmms-eval").max_new_tokens == tokens
    assert eval_settings(name, "lmms-eval").prompt_style == "lmms_eval"

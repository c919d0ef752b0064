"""Pixel budgets: Settings count them at 28 x 28 pixels per token; each family plans them once converted.

The one conversion is ``SamplingProfile.plan_kwargs`` (videoqa.model.families): a budget equal to the
Settings default becomes the family's own default, any other the same token count at the family's
token size; the planners pass it to ``plan_sampling(pixels_as_given=True)``, which takes it as it
is. The planned budgets (``SamplingPlan``) are checked on, next to and away from each default, for
every family. Before the fix the defaults were
swapped twice, so a budget whose conversion landed on the 28-pixel default (76,832 -> 100,352 on
Qwen3-VL) was swapped again (131,072) while its neighbour (76,833 -> 100,353) was not.
"""

from __future__ import annotations

import pytest

import videoqa
from videoqa.core._strategies import single_plan
from videoqa.core.settings import Settings
from videoqa.model.families import SamplingProfile, family
from videoqa.video._types import VideoInfo

INFO = VideoInfo(
    source="v.mp4", container="mp4", codec="h264", width=1280, height=720, rotation=0, start_seconds=0.0,
    duration_seconds=60.0, average_fps=30.0, num_frames=1800, num_frames_source="header",
    is_variable_frame_rate=False,
)  # fmt: skip

# Settings defaults (28 x 28 pixels per token): 128 and 768 tokens per frame, 115,200 per window.
MIN, MAX, TOTAL = 100352, 602112, 90316800.0

# (Settings value, planned value) per family; 28-pixel families plan the Settings value as it is.
SAME = {
    "min_pixels": [(MIN, MIN), (MIN - 1, MIN - 1), (MIN + 1, MIN + 1), (76832, 76832), (12544, 12544)],
    "max_pixels": [(MAX, MAX), (MAX - 1, MAX - 1), (MAX + 1, MAX + 1), (460992, 460992), (200704, 200704)],
    "total_pixels": [(TOTAL, TOTAL), (TOTAL - 1, TOTAL - 1), (69148800.0, 69148800.0),
                     (19267584.0, 19267584.0)],
}  # fmt: skip
# Qwen3-VL, 32 x 32 pixels per token: the default is qwen-vl-utils' at 32 (128 x 1024...), others scale
# by 1024 / 784, rounded to whole pixels for sizes. 76,832 / 460,992 / 69,148,800 scale onto the
# 28-pixel defaults exactly and must stay there.
QWEN3 = {
    "min_pixels": [(MIN, 131072), (MIN - 1, 131071), (MIN + 1, 131073), (76832, 100352), (76833, 100353),
                   (12544, 16384)],
    "max_pixels": [(MAX, 786432), (MAX - 1, 786431), (MAX + 1, 786433), (460992, 602112), (200704, 262144)],
    "total_pixels": [(TOTAL, 117964800.0), (TOTAL - 1, 117964798.69387755), (69148800.0, TOTAL),
                     (19267584.0, 25165824.0)],
}  # fmt: skip
EXPECTED = {"qwen2.5-vl": SAME, "qwen2-vl": SAME, "qwen3-vl": QWEN3}
CASES = [
    (name, budget, given, planned)
    for name, table in EXPECTED.items()
    for budget, pairs in table.items()
    for given, planned in pairs
]


def _settings(budget: str, value: float) -> Settings:
    fields = {"min_pixels": MIN, "max_pixels": MAX, "total_pixels": TOTAL, budget: value}
    if budget == "max_pixels" and value < MIN:
        fields["min_pixels"] = 12544
    return Settings(**fields)


def test_every_built_in_family_is_covered():
    assert sorted(f.name for f in videoqa.model.families.families()[:3]) == sorted(EXPECTED)


@pytest.mark.parametrize(("name", "budget", "given", "planned"), CASES)
def test_planned_budget_on_next_to_and_away_from_the_default(name, budget, given, planned):
    plan = single_plan(INFO, _settings(budget, given), family(name).sampling)
    assert getattr(plan, budget) == planned


def test_plan_sampling_bare_defaults_and_pixels_as_given():
    """A bare call keeps qwen-vl-utils' defaults at its patch factor; the planners' budgets are exact."""
    plan = videoqa.plan_sampling(INFO, patch_factor=32)
    assert (plan.min_pixels, plan.max_pixels, plan.total_pixels) == (131072, 786432, 117964800.0)
    plan = videoqa.plan_sampling(INFO, patch_factor=32, min_pixels=MIN, pixels_as_given=True)
    assert (plan.min_pixels, plan.max_pixels, plan.total_pixels) == (MIN, MAX, TOTAL)
    plan = videoqa.plan_sampling(INFO)
    assert (plan.min_pixels, plan.max_pixels, plan.total_pixels) == (MIN, MAX, TOTAL)


def test_a_family_with_its_own_default_tokens():
    profile = SamplingProfile(family="toy", patch_factor=32, default_tokens=(64, 256, 4096))
    kwargs = profile.plan_kwargs(min_pixels=MIN, max_pixels=MAX, total_pixels=TOTAL)
    assert kwargs == {
        "patch_factor": 32,
        "targets": "uniform",
        "min_pixels": 65536,
        "max_pixels": 262144,
        "total_pixels": 4194304,
    }
    assert profile.plan_kwargs(min_pixels=12544, max_pixels=200704, total_pixels=19267584.0) == {
        "patch_factor": 32,
        "targets": "uniform",
        "min_pixels": 16384,
        "max_pixels": 262144,
        "total_pixels": 25165824.0,
    }

"""Matroska/WebM nominal duration: timestamp rounding of up to three time-base ticks is tolerated."""

from __future__ import annotations

from fractions import Fraction

import pytest

from videoqa.video._probe import _nominal_duration


@pytest.mark.parametrize("rate", [24, Fraction(24), 24.0])
def test_three_ticks_of_rounding_give_the_nominal_duration(rate):
    # 480 frames at 24 fps measured 19.997 s with a 1 ms time base (Matroska's default): 20.0 s.
    assert _nominal_duration(rate, 480, 19.997, 0.001) == 20.0
    assert _nominal_duration(rate, 480, 20.003, 0.001) == 20.0
    assert _nominal_duration(rate, 480, 19.998, 0.001) == 20.0


@pytest.mark.parametrize("measured", [19.996, 20.004, 19.9])
def test_more_than_three_ticks_is_not_rounding(measured):
    assert _nominal_duration(24, 480, measured, 0.001) is None


def test_a_tolerance_of_half_a_frame_or_more_means_no_nominal_duration():
    # 3 ticks of 10 ms at 50 fps = 30 ms >= half a frame (10 ms): the header rate cannot be trusted.
    assert _nominal_duration(50, 1000, 20.0, 0.01) is None
    assert _nominal_duration(0, 480, 20.0, 0.001) is None

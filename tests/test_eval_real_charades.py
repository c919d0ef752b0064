"""The real public Charades-STA test file (``../shared/real_annotations/charades_sta``, never committed):
every line read, every duration found, and the 562 queries whose ground truth ends past the video."""

from __future__ import annotations

import pytest

from videoqa.eval._charades import load_charades_sta, read_durations
from videoqa.eval._metrics import clip_span, temporal_iou

from .real_data import REAL, needs_real

pytestmark = needs_real


@pytest.fixture(scope="module")
def charades():
    folder = REAL / "charades_sta"
    return load_charades_sta(
        folder / "charades_sta_test.txt", durations=read_durations(folder / "Charades_v1_test.csv")
    )


def test_every_query_every_video_and_every_duration(charades):
    assert (len(charades.items), len(charades.video_ids), charades.set_aside) == (3720, 1334, ())
    assert all(item.duration_seconds is not None for item in charades.items)
    first = charades.items[0]
    assert (first.video_id, first.start_seconds, first.end_seconds, first.duration_seconds) == (
        "3MSZA",
        24.3,
        30.4,
        30.96,
    )


def test_the_562_ends_past_the_video_are_kept_and_clipped_only_when_asked(charades):
    past = [i for i in charades.items if i.end_seconds > i.duration_seconds]
    assert (len(past), len({i.video_id for i in past})) == (562, 352)
    assert max(i.end_seconds - i.duration_seconds for i in past) <= 1.5 + 1e-9
    ako6m = next(i for i in past if i.video_id == "AKO6M")
    assert (ako6m.start_seconds, ako6m.end_seconds, ako6m.duration_seconds) == (12.7, 19.9, 18.58)
    # A model answering the whole visible event [12.7, 18.58]: lmms-eval keeps the annotated end,
    # --clip-ground-truth clips it to the duration.
    answer = (12.7, 18.58)
    assert temporal_iou(answer, (12.7, 19.9)) == pytest.approx(5.88 / 7.2)
    assert temporal_iou(answer, clip_span((12.7, 19.9), 18.58)) == 1.0


def test_vslnet_durations_agree_with_the_csv():
    import json

    folder = REAL / "charades_sta"
    csv = read_durations(folder / "Charades_v1_test.csv")
    vslnet = read_durations(folder / "vslnet_charades.json")  # {vid: {"duration": s, ...}}
    test_ids = {i.video_id for i in load_charades_sta(folder / "charades_sta_test.txt").items}
    assert all(vslnet[v] == csv[v] for v in test_ids)
    assert len(json.loads((folder / "vslnet_charades.json").read_text())) == len(vslnet)

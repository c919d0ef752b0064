"""ActivityNet Captions grounding and QVHighlights moment retrieval: loaders on the real public files
(when ``../shared/real_annotations`` exists), the ranked-list metrics by hand, and both benchmarks end
to end with the scripted model on generated videos named as the benchmarks name them.

Sample files written here follow the published formats: ActivityNet Captions as released by
ranjaykrishna and shipped by 2D-TAN / VSLNet (``{"v_<id>": {duration, timestamps, sentences}}``);
QVHighlights as in jayleicn/moment_detr ``data/README.md`` (JSONL ``{qid, query, duration, vid,
relevant_windows, ...}``) and its prediction format in ``standalone_eval/README.md``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from videoqa.eval._common import AnnotationError
from videoqa.eval.benchmarks.activitynet_captions import load_activitynet_captions
from videoqa.eval.benchmarks.qvhighlights import average_precision, load_qvhighlights

from .real_data import REAL, needs_real

# ------------------------------------------------------------------------------ real files


def _indexes(items):
    """0, 1, ... within each video: the sentence index of every item."""
    seen: dict[str, int] = {}
    for item in items:
        seen[item.video_id] = seen.get(item.video_id, -1) + 1
        yield seen[item.video_id]


@needs_real
@pytest.mark.parametrize(
    ("original", "edited", "videos", "sentences", "past_end", "edits"),
    [
        ("2dtan_val.json", "val_1.json", 4917, 17505, 134, 19),
        ("2dtan_test.json", "val_2.json", 4885, 17031, 111, 3),
    ],
)
def test_activitynet_captions_real_files(original, edited, videos, sentences, past_end, edits):
    items, aside = load_activitynet_captions(REAL / "activitynet_captions" / original)
    assert (len(items), len({i.video_id for i in items}), len(aside)) == (sentences, videos, 0)
    assert sum(i.end_seconds > i.duration_seconds for i in items) == past_end  # kept, as for Charades-STA
    assert all(i.sentence == i.sentence.strip() and i.video_id.startswith("v_") for i in items)
    assert all(i.query_id == f"{i.video_id}#{n}" for i, n in zip(items, _indexes(items), strict=True))
    other, _ = load_activitynet_captions(REAL / "activitynet_captions" / edited)  # the hand-corrected copy
    assert [(i.query_id, i.start_seconds, i.end_seconds) for i in other] == [
        (i.query_id, i.start_seconds, i.end_seconds) for i in items
    ]
    assert sum(a.sentence != b.sentence for a, b in zip(items, other, strict=True)) == edits


@needs_real
@pytest.mark.parametrize(
    ("name", "queries", "videos", "windows", "multi"),
    [
        ("highlight_val_release.jsonl", 1550, 1519, 2803, 530),
        ("highlight_test_with_gt.jsonl", 1542, 1529, 2761, 511),
    ],
)
def test_qvhighlights_real_files(name, queries, videos, windows, multi):
    items, aside = load_qvhighlights(REAL / "qvhighlights" / name)
    assert (len(items), len({i.video_id for i in items}), aside) == (queries, videos, [])
    assert sum(len(i.windows) for i in items) == windows and sum(len(i.windows) > 1 for i in items) == multi
    assert all(120 <= i.duration_seconds <= 150 for i in items)


@needs_real
def test_qvhighlights_test_split_without_labels_is_refused():
    with pytest.raises(AnnotationError, match=r"highlight_test_release\.jsonl:1: no relevant_windows"):
        load_qvhighlights(REAL / "qvhighlights" / "highlight_test_release.jsonl")


# ------------------------------------------------------------------------------ metrics by hand


def test_average_precision_of_a_ranked_list():
    windows = [(0.0, 10.0), (20.0, 30.0)]
    # hits, miss, hit: precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1 -> AP = 1/2 * 1 + 1/2 * 2/3
    assert average_precision([(0.0, 10.0), (50.0, 60.0), (20.0, 30.0)], windows, 0.5) == pytest.approx(5 / 6)
    assert average_precision([(0.0, 10.0), (0.0, 10.0)], windows, 0.5) == 0.5  # one window is matched once
    assert average_precision([(0.0, 4.0)], windows, 0.5) == 0.0  # IoU 0.4
    assert average_precision([(0.0, 4.0)], windows, 0.4) == 0.5
    assert average_precision([], windows, 0.5) == 0.0


def test_qvhighlights_sample_with_bad_windows(tmp_path):
    rows = [
        {
            "qid": 1,
            "query": "q",
            "duration": 150,
            "vid": "a_0.0_150.0",
            "relevant_windows": [[0, 16], [20, 10]],
        },
        {"qid": 2, "query": "r", "duration": 150, "vid": "b_0.0_150.0", "relevant_windows": [[150, 152]]},
    ]
    path = tmp_path / "highlight_val_release.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    items, aside = load_qvhighlights(path)
    assert [(i.qid, i.windows) for i in items] == [(1, ((0.0, 16.0),))]
    assert [str(a).removeprefix(f"{path}:") for a in aside] == [
        "1: qid 1: window [20, 10]: reversed span: end 10.0 s before start 20.0 s",
        "2: qid 2: window [150, 152]: starts at 150.0 s, at or after the video's end (150.0 s)",
    ]


# ------------------------------------------------------------------------------ end to end


def _run(benchmark: str, annotations: Path, videos: Path, out: Path) -> dict:
    from videoqa.eval._cli import main

    argv = ["--annotations", str(annotations), "--videos", str(videos), "--output", str(out),
            "--model", "builtin:scripted", "--decode-workers", "1", "--local-num-cpus", "2"]  # fmt: skip
    assert main(argv, benchmark=benchmark) == 0
    return json.loads((out / "summary.json").read_text())


@pytest.mark.ray
def test_activitynet_captions_and_qvhighlights_end_to_end(ray_cluster, tmp_path):
    """One 30 s video, red 10-20 s and blue 3-8 s; the scripted model answers [s, e - 0.5] at 2 fps."""
    from videoqa.synthetic import Event, write_video

    events = [Event(10.0, 20.0, "red"), Event(3.0, 8.0, "blue")]
    write_video(tmp_path / "anet" / "v_synthetic01.mp4", duration_seconds=30, fps=4.0, events=events)
    write_video(tmp_path / "qvh" / "yt_synthetic_0.0_30.0.mp4", duration_seconds=30, fps=4.0, events=events)

    anet = {"v_synthetic01": {"duration": 30.0, "timestamps": [[10.0, 20.0], [3.0, 8.0], [20.0, 25.0]],
                              "sentences": ["a red square appears.", "  a blue square appears.",
                                            "a green square appears."]}}  # fmt: skip
    (tmp_path / "val_1.json").write_text(json.dumps(anet))
    summary = _run("activitynet-captions", tmp_path / "val_1.json", tmp_path / "anet", tmp_path / "out-anet")
    # IoUs 9.5 / 10, 4.5 / 5 and 0 (green never appears: "does not occur")
    assert {k: summary["all"][k] for k in ("R@0.3", "R@0.5", "R@0.7", "num_queries")} == {
        "R@0.3": 200 / 3, "R@0.5": 200 / 3, "R@0.7": 200 / 3, "num_queries": 3
    }  # fmt: skip
    assert summary["all"]["mIoU"] == pytest.approx(100 * (0.95 + 0.9) / 3)
    assert summary["num_no_event"] == 1 and summary["num_set_aside"] == 0

    qvh = [
        {"qid": 11, "query": "a red square appears", "duration": 30, "vid": "yt_synthetic_0.0_30.0",
         "relevant_windows": [[10, 20], [24, 28]]},  # one of two windows found: AP 1/2 at every m
        {"qid": 12, "query": "a blue square appears", "duration": 30, "vid": "yt_synthetic_0.0_30.0",
         "relevant_windows": [[3, 8]]},  # IoU 0.9: a hit up to m = 0.9, a miss at 0.95
        {"qid": 13, "query": "a green square appears", "duration": 30, "vid": "yt_synthetic_0.0_30.0",
         "relevant_windows": [[0, 2]]},  # no span: AP 0, kept in the denominator
    ]  # fmt: skip
    (tmp_path / "highlight_val_release.jsonl").write_text("".join(json.dumps(r) + "\n" for r in qvh))
    out = tmp_path / "out-qvh"
    summary = _run("qvhighlights", tmp_path / "highlight_val_release.jsonl", tmp_path / "qvh", out)
    assert {k: summary["all"][k] for k in ("R1@0.5", "R1@0.7", "mAP@0.5", "mAP@0.75")} == {
        "R1@0.5": 200 / 3, "R1@0.7": 200 / 3, "mAP@0.5": 50.0, "mAP@0.75": 50.0
    }  # fmt: skip
    assert summary["all"]["mAP"] == pytest.approx(100 * (0.5 + 0.9 + 0.0) / 3)
    submission = [json.loads(line) for line in (out / "submission.jsonl").read_text().splitlines()]
    assert [sorted(s) for s in submission] == [["pred_relevant_windows", "qid", "query", "vid"]] * 3
    assert [(s["qid"], s["vid"], s["pred_relevant_windows"]) for s in submission] == [
        (11, "yt_synthetic_0.0_30.0", [[10.0, 19.5, 1.0]]),
        (12, "yt_synthetic_0.0_30.0", [[3.0, 7.5, 1.0]]),
        (13, "yt_synthetic_0.0_30.0", []),
    ]
    assert (out / "submission.native.jsonl").read_text() == (out / "submission.jsonl").read_text()
    table = (out / "results.md").read_text()
    assert "| builtin:scripted (this run, all 3 queries) | 66.7 | 66.7 | 50.0 | 50.0 | 46.7 |" in table


@pytest.mark.slow
@pytest.mark.ray
def test_activitynet_captions_with_the_tiny_grounder(ray_cluster, tmp_path):
    """The trained tiny grounder (real runner, its own starting settings) answers every sentence;
    each score follows from the span parsed from its text."""
    import pyarrow.parquet as pq

    from videoqa.eval._metrics import temporal_iou
    from videoqa.model._grounder import GROUNDER_QUERY, GROUNDER_SETTINGS
    from videoqa.synthetic import Event, write_video

    events = [Event(10.0, 20.0, "red"), Event(3.0, 8.0, "blue")]
    write_video(tmp_path / "anet" / "v_grounder01.mp4", duration_seconds=30, fps=4.0, events=events)
    sentences = [GROUNDER_QUERY.format(color=c) for c in ("red", "blue")]
    anet = {
        "v_grounder01": {"duration": 30.0, "timestamps": [[10.0, 20.0], [3.0, 8.0]], "sentences": sentences}
    }
    (tmp_path / "val_2.json").write_text(json.dumps(anet))
    from videoqa.eval._cli import main

    out = tmp_path / "out"
    argv = ["--annotations", str(tmp_path / "val_2.json"), "--videos", str(tmp_path / "anet"),
            "--output", str(out), "--model", "builtin:tiny-grounder", "--decode-workers", "1",
            "--local-num-cpus", "2"]  # fmt: skip
    assert main(argv, benchmark="activitynet-captions") == 0
    summary = json.loads((out / "summary.json").read_text())
    assert {k: summary["settings"][k] for k in GROUNDER_SETTINGS} == GROUNDER_SETTINGS  # Settings.for_model
    rows = pq.read_table(out / "items.parquet").to_pylist()
    assert [r["status"] for r in rows] == ["ok", "ok"]
    for r in rows:
        span = None if r["pred_start_seconds"] is None else (r["pred_start_seconds"], r["pred_end_seconds"])
        assert r["iou"] == temporal_iou(span, (r["gt_start_seconds"], r["gt_end_seconds"]))
    assert summary["all"]["mIoU"] == pytest.approx(50 * (rows[0]["iou"] + rows[1]["iou"]))

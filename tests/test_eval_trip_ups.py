"""What a real user trips over (issue 27 item 3): finding videos, LVBench copies as they are found in
the wild, re-scoring in another mode, empty categories, time references, lmms-eval's strict R@m."""

from __future__ import annotations

import json
import logging

import pytest

from videoqa.eval._charades import GroundingItem, read_durations
from videoqa.eval._common import AnnotationError
from videoqa.eval._lvbench import load_lvbench
from videoqa.eval._videos import NoVideosFoundError, find_videos, map_videos, read_video_map

# ------------------------------------------------------------------------------------------ videos


def test_videos_are_found_in_subfolders_with_any_container_suffix_in_any_case(tmp_path, caplog):
    for name in ("a/3MSZA.mp4", "b/c/AMT7R.MKV", "YVKIV.webm", "X1.Mov", "X2.avi", "X3.txt", "d/X1.mp4"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    with caplog.at_level(logging.WARNING, logger="videoqa.eval._videos"):
        found, missing = find_videos(str(tmp_path), ["3MSZA", "AMT7R", "YVKIV", "X1", "X2", "X3"])
    assert found == {
        "3MSZA": str(tmp_path / "a/3MSZA.mp4"), "AMT7R": str(tmp_path / "b/c/AMT7R.MKV"),
        "YVKIV": str(tmp_path / "YVKIV.webm"), "X1": str(tmp_path / "X1.Mov"), "X2": str(tmp_path / "X2.avi"),
    }  # fmt: skip
    assert missing == ["X3"]
    assert "video X1 found 2 times" in caplog.text  # X1.Mov and d/X1.mp4: the first in sorted order
    found, missing = find_videos(str(tmp_path), ["3MSZA", "AMT7R"], suffix=".MP4")
    assert list(found) == ["3MSZA"] and missing == ["AMT7R"]


def test_no_video_found_is_an_error_naming_folder_layout_and_count(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(NoVideosFoundError) as caught:
        find_videos(str(tmp_path), ["3MSZA", "AMT7R"])
    message = str(caught.value)
    assert f"--videos {str(tmp_path)!r}" in message and "<videos>/<id>.mp4, also in subfolders" in message
    assert "found 0 of 2 there, among 1 file(s): notes.txt" in message and "--video-map" in message


def test_videoqa_eval_exits_2_when_no_video_is_found(tmp_path, capsys):
    from videoqa.eval._cli import main

    (tmp_path / "charades_sta_test.txt").write_text("3MSZA 24.3 30.4##person turn a light on.\n")
    (tmp_path / "videos").mkdir()
    argv = ["--annotations", str(tmp_path / "charades_sta_test.txt"), "--videos", str(tmp_path / "videos"),
            "--output", str(tmp_path / "out"), "--model", "builtin:scripted"]  # fmt: skip
    assert main(argv, benchmark="charades-sta") == 2
    printed = capsys.readouterr().out
    assert printed.startswith("videoqa eval charades-sta: none of the 1 annotated videos was found")
    assert not (tmp_path / "out" / "summary.json").exists()


def test_a_video_map_names_each_file_csv_or_json(tmp_path):
    (tmp_path / "shards" / "00000").mkdir(parents=True)
    (tmp_path / "shards" / "00000" / "00000000.mp4").write_bytes(b"x")
    (tmp_path / "map.csv").write_text(
        "id,path\nCm73ma6Ibcs,shards/00000/00000000.mp4\n28CIeC8cZks,shards/gone.mp4\n"
    )
    (tmp_path / "map.json").write_text(
        json.dumps({"Cm73ma6Ibcs": str(tmp_path / "shards/00000/00000000.mp4")})
    )
    for name in ("map.csv", "map.json"):
        found, missing = map_videos(read_video_map(tmp_path / name), ["Cm73ma6Ibcs", "28CIeC8cZks"])
        assert found == {"Cm73ma6Ibcs": str(tmp_path / "shards/00000/00000000.mp4")}
        assert missing == ["28CIeC8cZks"]
    (tmp_path / "bad.csv").write_text("video,file\na,b\n")
    with pytest.raises(AnnotationError, match="needs columns 'id' and 'path'"):
        read_video_map(tmp_path / "bad.csv")
    with pytest.raises(NoVideosFoundError, match="none of the 1 annotated videos is in the video map"):
        map_videos({"a": str(tmp_path / "nope.mp4")}, ["a"])


def test_eval_config_takes_a_folder_or_a_map(tmp_path):
    from pydantic import ValidationError

    from videoqa.eval import EvalConfig

    base = {"benchmark": "lvbench", "annotations": "a", "output": "o"}
    assert EvalConfig(**base, video_map="m.csv").videos is None
    for both_or_none in ({}, {"videos": "v", "video_map": "m.csv"}):
        with pytest.raises(ValidationError, match="exactly one of them"):
            EvalConfig(**base, **both_or_none)


# ------------------------------------------------------------------------------------------ LVBench copies


def _qa(uid, answer="D", question="Which year?\n(A) 1636\n(B) 1366\n(C) 1363\n(D) 1633", **extra):
    return {"uid": uid, "question": question, "answer": answer, "question_type": ["reasoning"],
            "time_reference": "00:15-00:19", **extra}  # fmt: skip


def test_lvbench_reads_the_whole_file_and_reports_each_rejected_record(tmp_path, caplog):
    letters = "Which?\nA. x\nB. y\nC. z\nD. w"
    lines = [
        json.dumps({"key": "v1", "qa": [_qa("1"), _qa("2", answer="E"), _qa("3", answer="(B)")]}),
        "{not json",
        json.dumps({"type": "tv", "qa": []}),
        json.dumps({"key": "v2", "qa": [_qa("4", answer="c"), _qa("1"), _qa("5", question_type=[])]}),
        json.dumps({"key": "v3", "qa": [_qa("6", question=letters, answer="D.")]}),
    ]
    path = tmp_path / "video_info.meta.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with caplog.at_level(logging.WARNING):
        bench = load_lvbench(path)
    assert [(i.question_id, i.answer) for i in bench.items] == [
        ("1", "D"),
        ("3", "B"),
        ("4", "C"),
        ("6", "D"),
    ]
    assert bench.items[3].options == ("x", "y", "z", "w") and bench.items[3].stem == "Which?"
    reasons = [str(s).removeprefix(f"{path}:") for s in bench.set_aside]
    assert reasons == [
        "1: video v1, uid 2: answer must be one of A-D (or '(A)', 'a'), got 'E'",
        "2: invalid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        "3: key: missing (the record has ['qa', 'type'])",
        "4: video v2, uid 1: uid: appears twice; the first is kept",
        "4: video v2, uid 5: question_type is empty",
    ]
    assert len([r for r in caplog.records if "annotation set aside" in r.getMessage()]) == 5


def test_lvbench_as_a_json_array(tmp_path):
    path = tmp_path / "video_info.meta.json"
    path.write_text(json.dumps([{"key": "v1", "type": "tv", "qa": [_qa("1", answer="(d)")]}], indent=1))
    bench = load_lvbench(path)
    assert [(i.question_id, i.answer) for i in bench.items] == [("1", "D")] and bench.set_aside == ()


def test_lvbench_with_no_usable_question_names_the_first_rejection(tmp_path):
    path = tmp_path / "video_info.meta.jsonl"
    path.write_text(json.dumps({"key": "v1", "qa": [_qa("1", answer="Z")]}) + "\n")
    with pytest.raises(
        AnnotationError, match=r"no usable questions found; first rejected: .*:1: video v1, uid 1"
    ):
        load_lvbench(path)


def test_durations_in_the_per_video_object_shape(tmp_path):
    path = tmp_path / "durations.json"
    path.write_text(json.dumps({"v_abc": {"duration": 82.73, "timestamps": []}, "3MSZA": 30.96}))
    assert read_durations(path) == {"v_abc": 82.73, "3MSZA": 30.96}
    path.write_text(json.dumps({"v_abc": {"length": 82.73}}))
    with pytest.raises(
        AnnotationError, match=r"video v_abc: no 'duration' in \['length'\]; .*\{video_id: seconds\}"
    ):
        read_durations(path)
    path.write_text(json.dumps([82.73]))
    with pytest.raises(AnnotationError, match=r"must be \{video_id: seconds\} or"):
        read_durations(path)


# ------------------------------------------------------------------------------------- scoring and tables


def _choice_items():
    from videoqa.eval._lvbench import parse_lvbench_record

    return [
        parse_lvbench_record("v1", "tv", {**_qa("1"), "question_type": ["entity recognition"]}),
        parse_lvbench_record(
            "v1", "tv", {**_qa("2"), "question_type": ["counting"], "time_reference": "about 1h"}
        ),
        parse_lvbench_record("v1", "tv", {**_qa("3"), "time_reference": "1:02:03 – 1:02:10"}),
    ]


def test_empty_categories_show_a_dash_and_unknown_types_a_column():
    from videoqa.eval._report import markdown_table
    from videoqa.eval._score import Prediction, score_choice

    items = _choice_items()
    preds = {
        i.question_id: Prediction(status="ok", letter=letter) for i, letter in zip(items, "DAD", strict=True)
    }
    rows, scores = score_choice(items, preds, dict.fromkeys(preds, "p"))
    summary = {"benchmark": "lvbench", "title": "LVBench", "model": "m", "prompt_style": "lmms_eval",
               "strategy": "single", "sampling_note": "2 fps", "limit": 3, "num_missing_videos": 0,
               "num_items_missing_video": 0, **scores}  # fmt: skip
    table = markdown_table(summary)
    assert "| Model | ER | EU | KIR | TG | Rea | Sum | counting | Overall |" in table
    assert "| m (this run, all 3 questions) | 100.0 | – | – | – | 100.0 | – | 0.0 | 66.7 |" in table
    assert "time_reference not read as MM:SS-MM:SS for 1 question(s) (kept as text in items.parquet), " \
           "first: 2: 'about 1h'." in table  # fmt: skip
    assert [(r["time_reference_start_seconds"], r["time_reference_end_seconds"]) for r in rows] == [
        (15.0, 19.0), (None, None), (3723.0, 3730.0)
    ]  # fmt: skip
    assert scores["num_time_reference_unparsed"] == 1


def test_rescoring_in_the_other_mode_keeps_the_first_results(tmp_path):
    from videoqa.eval._metrics import grounding_scores
    from videoqa.eval._report import write_report

    scores = grounding_scores([1.0]).as_dict()
    summary = {"benchmark": "charades-sta", "title": "C", "model": "m", "prompt_style": "lmms_eval",
               "strategy": "single", "sampling_note": "2 fps", "limit": None, "num_missing_videos": 0,
               "num_items_missing_video": 0, "clip_ground_truth_to_duration": False, "num_unparsed": 0,
               "num_failed": 0, "all": scores, "answerable": scores}  # fmt: skip
    row = {"video_id": "V", "sentence": "s.", "gt_start_seconds": 0.0, "gt_end_seconds": 1.0}
    write_report(
        tmp_path, [{**row, "iou": 1.0, "prediction_text": "0 - 1"}], {**summary, "scoring": "native"}
    )
    paths = write_report(tmp_path, [{**row, "iou": 0.5, "prediction_text": "0 - 2"}],
                         {**summary, "scoring": "lmms_eval"})  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([
        "items.parquet", "summary.json", "results.md", "items.native.parquet", "summary.native.json",
        "results.native.md", "items.lmms_eval.parquet", "summary.lmms_eval.json", "results.lmms_eval.md",
        "charades_sta_submission.json", "charades_sta_submission.native.json",
        "charades_sta_submission.lmms_eval.json",
    ])  # fmt: skip
    submission = json.loads((tmp_path / "charades_sta_submission.native.json").read_text())
    assert submission == {"V.mp4>>>s.>>>[0.0, 1.0]": "0 - 1"}  # the first mode's file is kept
    assert json.loads((tmp_path / "summary.native.json").read_text())["scoring"] == "native"
    assert json.loads((tmp_path / "summary.json").read_text())["scoring"] == "lmms_eval"
    assert paths["summary.lmms_eval"] == str(tmp_path / "summary.lmms_eval.json")


def test_lmms_eval_scoring_compares_the_raw_iou_strictly():
    """IoU of (0.4, 1.2) with (0.0, 1.6) is 0.49999999999999994 in floats: lmms-eval counts no hit at 0.5."""
    from videoqa.eval._metrics import temporal_iou
    from videoqa.eval._score import Prediction, score_grounding

    assert temporal_iou((0.4, 1.2), (0.0, 1.6)) == 0.49999999999999994
    items = [GroundingItem("0", "A", "x", 0.0, 1.6)]
    pred = {"0": Prediction(status="ok", raw_text="The event happens in 0.4 - 1.2 seconds.", span=(0.4, 1.2))}
    _, native = score_grounding(items, pred, {"0": "p"}, scoring="native")
    _, lmms = score_grounding(items, pred, {"0": "p"}, scoring="lmms_eval")
    assert (native["all"]["R@0.5"], lmms["all"]["R@0.5"]) == (100.0, 0.0)
    assert native["all"]["R@0.3"] == lmms["all"]["R@0.3"] == 100.0
    # lmms-eval's rule: recall = mean(iou >= m) on the IoU as computed, no slack
    iou = temporal_iou((0.4, 1.2), (0.0, 1.6))
    assert lmms["all"]["R@0.5"] == 100.0 * (iou >= 0.5)


def test_lvbench_official_answers_file(tmp_path):
    """``lvbench_answers.json`` is the ``{uid: letter}`` dict LVBench's ``scripts/test_acc.py`` reads."""
    from videoqa.eval._report import write_report
    from videoqa.eval._score import Prediction, score_choice

    items = _choice_items()
    preds = {"1": Prediction(status="ok", letter="D"), "2": Prediction(status="ok", letter=None),
             "3": Prediction(status="missing_video")}  # fmt: skip
    rows, scores = score_choice(items, preds, dict.fromkeys(preds, "p"))
    summary = {"benchmark": "lvbench", "title": "LVBench", "model": "m", "prompt_style": "lmms_eval",
               "strategy": "single", "sampling_note": "2 fps", "limit": None, "num_missing_videos": 1,
               "num_items_missing_video": 1, **scores}  # fmt: skip
    paths = write_report(tmp_path, rows, summary)
    answers = json.loads((tmp_path / "lvbench_answers.json").read_text())
    assert answers == {"1": "D", "2": "", "3": ""}  # every uid present: none silently dropped
    assert paths["lvbench_answers.json"] == str(tmp_path / "lvbench_answers.json")
    assert (tmp_path / "lvbench_answers.native.json").read_text() == (
        tmp_path / "lvbench_answers.json"
    ).read_text()

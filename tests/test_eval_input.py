"""Hostile annotation files (issue 23 item 10): bytes that are not UTF-8, ground-truth times that cannot
be scored. Every problem names its file and line; bad times are set aside and counted in the summary."""

from __future__ import annotations

import json
import logging

import pytest

from videoqa.eval._charades import load_charades_sta, read_durations
from videoqa.eval._common import AnnotationError, ground_truth_problem
from videoqa.eval._lvbench import load_lvbench

GOOD = "3MSZA 24.3 30.4##person turn a light on.\n"


def test_a_byte_that_is_not_utf8_names_the_file_and_line(tmp_path):
    path = tmp_path / "charades_sta_test.txt"
    path.write_bytes(GOOD.encode() * 2 + b"AMT7R 4.3 12.5##a caf\xe9 scene.\n")
    with pytest.raises(
        AnnotationError, match=r"charades_sta_test\.txt:3: byte 0xe9 at column 22 is not UTF-8"
    ):
        load_charades_sta(path)


def test_an_earlier_line_error_is_reported_before_a_later_bad_byte(tmp_path):
    path = tmp_path / "charades_sta_test.txt"
    path.write_bytes(GOOD.encode() + b"AMT7R 4.3##no end time.\n" + b"X 1 2##\xff\n")
    with pytest.raises(
        AnnotationError, match=r"charades_sta_test\.txt:2: expected 'VID start end##sentence'"
    ):
        load_charades_sta(path)


@pytest.mark.parametrize(
    ("name", "content", "where"),
    [
        ("video_info.meta.jsonl", b'{"key": "a", "qa": []}\n{"key": "b\xc3"}\n',
         r"video_info\.meta\.jsonl:2: byte 0xc3"),
        ("charades.json", b'{"annotations": [\n{"caption": "\xe9"}]}', r"charades\.json:2: byte 0xe9"),
        ("Charades_v1_test.csv", b"id,length\n3MSZA,30.96\nAMT7R\xa0,30.08\n",
         r"Charades_v1_test\.csv:3: byte 0xa0"),
    ],
)  # fmt: skip
def test_every_reader_names_the_line_of_a_bad_byte(tmp_path, name, content, where):
    path = tmp_path / name
    path.write_bytes(content)
    read = {".jsonl": load_lvbench, ".json": load_charades_sta, ".csv": read_durations}[path.suffix]
    with pytest.raises(AnnotationError, match=where):
        read(path)


BAD_TIMES = [  # (line, why it is set aside); line 1 is GOOD
    ("NEG01 -1.5 3.0##a negative start.", "negative start -1.5 s"),
    ("REV01 9.0 4.0##a reversed span.", "reversed span: end 4.0 s before start 9.0 s"),
    ("ZER01 5.0 5.0##a zero-length span.", "zero-length span at 5.0 s"),
    (f"BIG01 {'9' * 400} 3.0##a 400-digit start.", "start inf s is not a time of a video"),
    ("LATE1 40.0 45.0##starts after the video.", "starts at 40.0 s, at or after the video's end (30.96 s)"),
]


def test_ground_truth_times_that_cannot_be_scored_are_set_aside_with_file_and_line(tmp_path, caplog):
    lines = [GOOD.strip(), *(line for line, _ in BAD_TIMES)]
    lines.append("LATE2 30.0 31.5##ends 0.54 s after the video: kept, as lmms-eval keeps it.")
    path = tmp_path / "charades_sta_test.txt"
    path.write_text("\n".join(lines) + "\n")
    with caplog.at_level(logging.WARNING, logger="videoqa.eval._common"):
        bench = load_charades_sta(path, durations={"LATE1": 30.96, "LATE2": 30.96})
    assert [(i.query_id, i.video_id) for i in bench.items] == [("0", "3MSZA"), ("6", "LATE2")]
    found = [
        (s.line_number, s.reason[: len(why)]) for s, (_, why) in zip(bench.set_aside, BAD_TIMES, strict=True)
    ]
    assert found == [(n, why) for n, (_, why) in enumerate(BAD_TIMES, start=2)]
    assert str(bench.set_aside[0]) == f"{path}:2: query 1 (video NEG01): negative start -1.5 s"
    assert [r.getMessage() for r in caplog.records] == [f"annotation set aside: {s}" for s in bench.set_aside]


def test_an_overflowing_number_is_no_number_in_the_official_lines(tmp_path):
    path = tmp_path / "charades_sta_test.txt"
    path.write_text(GOOD + "BIG02 1.0 1e309##an overflowing end.\n")
    with pytest.raises(AnnotationError, match=r":2: expected 'VID start end##sentence'"):
        load_charades_sta(path)


def test_json_variants_are_checked_too_and_a_file_of_only_bad_times_is_an_error(tmp_path):
    path = tmp_path / "coco.json"
    rows = [{"image_id": "A.mp4", "caption": "x", "timestamp": [3.0, 1.0], "id": 7},
            {"image_id": "B.mp4", "caption": "y", "timestamp": [1.0, 2.0], "id": 8}]  # fmt: skip
    path.write_text(json.dumps({"annotations": rows}))
    bench = load_charades_sta(path)
    assert [i.query_id for i in bench.items] == ["8"]
    assert (
        str(bench.set_aside[0]) == f"{path}: query 7 (video A): reversed span: end 1.0 s before start 3.0 s"
    )
    path.write_text(json.dumps({"annotations": rows[:1]}))
    with pytest.raises(AnnotationError, match="no query has usable ground-truth times"):
        load_charades_sta(path)


@pytest.mark.parametrize("length", ["0", "-3", "inf", "nan", "x", "1" * 400])
def test_a_duration_must_be_a_positive_finite_number(tmp_path, length):
    path = tmp_path / "Charades_v1_test.csv"
    path.write_text(f"id,length\n3MSZA,30.96\nAMT7R,{length}\n")
    with pytest.raises(AnnotationError, match=r"Charades_v1_test\.csv:3: .*video AMT7R: bad length"):
        read_durations(path)


def test_the_problem_rule_on_and_next_to_its_bounds():
    assert ground_truth_problem(0.0, 0.1) is None
    assert ground_truth_problem(0.0, 7 * 24 * 3600.0) is None
    assert ground_truth_problem(0.0, 7 * 24 * 3600.0 + 1) is not None
    assert ground_truth_problem(30.95, 31.0, duration_seconds=30.96) is None
    assert ground_truth_problem(30.96, 31.0, duration_seconds=30.96) is not None
    assert ground_truth_problem(12.7, 19.9, duration_seconds=18.58) is None  # AKO6M: end past the video, kept
    assert ground_truth_problem(float("nan"), 1.0) is not None


def test_the_summary_and_table_say_how_many_lines_were_set_aside(tmp_path):
    from videoqa.eval import EvalConfig
    from videoqa.eval._report import markdown_table
    from videoqa.eval._run import _summary, prepare
    from videoqa.eval._score import Prediction, score_grounding

    path = tmp_path / "charades_sta_test.txt"
    path.write_text(GOOD + "REV01 9.0 4.0##a reversed span.\nNEG01 -2 3##negative.\n")
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "3MSZA.mp4").write_bytes(b"x")  # found (prepare does not decode it)
    config = EvalConfig(benchmark="charades-sta", annotations=str(path), videos=str(tmp_path / "videos"),
                        output=str(tmp_path / "out"))  # fmt: skip
    prep = prepare(config)
    preds = {"0": Prediction(status="ok", span=(24.3, 30.4))}
    _, scores = score_grounding(prep.items, preds, {"0": "p"})
    summary = _summary(config, prep, scores)
    assert summary["num_set_aside"] == 2 and summary["num_items"] == 1
    assert summary["set_aside"] == [
        f"{path}:2: query 1 (video REV01): reversed span: end 4.0 s before start 9.0 s",
        f"{path}:3: query 2 (video NEG01): negative start -2.0 s",
    ]
    table = markdown_table(summary)
    assert (
        "2 annotation line(s) set aside (not scored, in no denominator; listed in summary.json), "
        f"first: {path}:2:" in table
    )

"""Benchmark loaders on the sample lines of the public files, and the prompts they produce."""

from __future__ import annotations

import json

import pytest

from videoqa.eval._charades import load_charades_sta, parse_charades_sta_lines, read_durations
from videoqa.eval._common import AnnotationError
from videoqa.eval._lvbench import load_lvbench, parse_lvbench_record
from videoqa.eval._prompts import prompt_text
from videoqa.eval.benchmarks.charades_sta import charades_question
from videoqa.eval.benchmarks.lvbench import lvbench_question

# The first lines of charades_sta_test.txt, and TimeChat's train example.
CHARADES_LINES = """\
3MSZA 24.3 30.4##person turn a light on.
3MSZA 24.3 30.4##person flipped the light switch near the door.
AMT7R 4.3 12.5##a person is putting a picture onto the wall.
YVKIV 4.4 9.2##the person puts down the bag.
VXJS4 0.0 3.4##a person walks through the doorway.
"""

LVBENCH_RECORD = {
    "key": "Cm73ma6Ibcs",
    "type": "cartoon",
    "video_info": {"duration_minutes": 115.0, "fps": 25.0, "resolution": {"width": 640, "height": 360}},
    "qa": [
        {
            "uid": "55",
            "question": "What year appears in the opening caption of the video?"
            "\n(A) 1636\n(B) 1366\n(C) 1363\n(D) 1633",
            "answer": "D",
            "question_type": ["key information retrieval"],
            "time_reference": "00:15-00:19",
        },
        {
            "uid": 56,
            "question": "How is the weather like in the opening?"
            "\n(A) Cloudy\n(B) Snowy\n(C) Sunny\n(D) Rainy",
            "answer": "B",
            "question_type": ["event understanding", "reasoning"],
            "time_reference": "00:00-01:16",
        },
    ],
}

# --------------------------------------------------------------------------------------------- Charades-STA


def test_official_lines():
    items = parse_charades_sta_lines(CHARADES_LINES.splitlines())
    assert [(i.query_id, i.video_id, i.start_seconds, i.end_seconds) for i in items] == [
        ("0", "3MSZA", 24.3, 30.4),
        ("1", "3MSZA", 24.3, 30.4),
        ("2", "AMT7R", 4.3, 12.5),
        ("3", "YVKIV", 4.4, 9.2),
        ("4", "VXJS4", 0.0, 3.4),
    ]
    assert items[0].sentence == "person turn a light on."
    assert items[1].sentence == "person flipped the light switch near the door."
    assert all(i.duration_seconds is None for i in items)


def test_fourth_numeric_field_blank_lines_and_noisy_sentences():
    lines = ["AO8RW 0.0 6.9##a person is putting a book on a shelf.", "", "  ",
             "3MSZA 24.3 30.4 0##person turn a light on.",
             "U2AO1 0.0 4.6##closes the doors.the person takes the food."]  # fmt: skip
    items = parse_charades_sta_lines(lines)
    assert [(i.query_id, i.video_id, i.start_seconds, i.end_seconds) for i in items] == [
        ("0", "AO8RW", 0.0, 6.9),
        ("1", "3MSZA", 24.3, 30.4),
        ("2", "U2AO1", 0.0, 4.6),
    ]
    assert items[1].sentence == "person turn a light on."
    assert items[2].sentence == "closes the doors.the person takes the food."


@pytest.mark.parametrize(
    "line",
    ["3MSZA 24.3 30.4 person turn a light on.", "3MSZA 24.3##x.", "3MSZA a 30.4##x.",
     "3MSZA 24.3 30.4 x##x.", "3MSZA 24.3 30.4##"],
)  # fmt: skip
def test_bad_lines_name_the_file_and_line(line):
    with pytest.raises(AnnotationError, match=r"test\.txt:2: "):
        parse_charades_sta_lines(
            ["VXJS4 0.0 3.4##a person walks through the doorway.", line], source="test.txt"
        )


def test_txt_file_with_durations_from_the_charades_csv(tmp_path):
    (tmp_path / "charades_sta_test.txt").write_text(CHARADES_LINES)
    csv_text = (
        "id,subject,scene,quality,relevance,verified,script,objects,descriptions,actions,length\n"
        '3MSZA,X,Bedroom,6,7,Yes,"A person turns on a light, then leaves.",light;door,"One, two",'
        "c001 0 5,30.96\n"
        'AMT7R,Y,Hallway,5,7,Yes,"Hangs a picture.",picture,"x",,30.08\n'
    )
    (tmp_path / "Charades_v1_test.csv").write_text(csv_text)
    durations = read_durations(tmp_path / "Charades_v1_test.csv")
    assert durations == {"3MSZA": 30.96, "AMT7R": 30.08}
    bench = load_charades_sta(tmp_path / "charades_sta_test.txt", durations=durations)
    assert bench.annotation_format == "txt" and bench.comparable
    assert [i.duration_seconds for i in bench.items] == [30.96, 30.96, 30.08, None, None]
    assert bench.video_ids == ["3MSZA", "AMT7R", "YVKIV", "VXJS4"]
    (tmp_path / "durations.json").write_text(json.dumps({"YVKIV": 12.0}))
    assert read_durations(tmp_path / "durations.json") == {"YVKIV": 12.0}


def test_csv_without_length_column_is_refused(tmp_path):
    (tmp_path / "bad.csv").write_text("id,scene\n3MSZA,Bedroom\n")
    with pytest.raises(AnnotationError, match="columns 'id' and 'length'"):
        read_durations(tmp_path / "bad.csv")


def _spans(bench):
    return [(i.query_id, i.video_id, i.sentence, i.start_seconds, i.end_seconds, i.duration_seconds)
            for i in bench.items]  # fmt: skip


def test_timechat_coco_json(tmp_path):
    data = {"annotations": [
        {"image_id": "3MSZA.mp4", "caption": "person turn a light on.", "timestamp": [24.3, 30.4], "id": 0},
        {"image_id": "AMT7R.mp4", "caption": "a person is putting a picture onto the wall.",
         "timestamp": [4.3, 12.5], "id": 2},
    ]}  # fmt: skip
    (tmp_path / "test.caption_coco_format.json").write_text(json.dumps(data))
    bench = load_charades_sta(tmp_path / "test.caption_coco_format.json")
    assert bench.annotation_format == "coco"
    assert _spans(bench) == [
        ("0", "3MSZA", "person turn a light on.", 24.3, 30.4, None),
        ("2", "AMT7R", "a person is putting a picture onto the wall.", 4.3, 12.5, None),
    ]


def test_tfvtg_activitynet_json_carries_durations(tmp_path):
    data = {
        "3MSZA": {"duration": 30.96, "timestamps": [[24.3, 30.4], [24.3, 30.4]],
                  "sentences": ["person turn a light on.", "person flipped the light switch near the door."]},
        "AKO6M": {"duration": 18.58, "timestamps": [[12.7, 19.9]], "sentences": ["a person sits down."]},
    }  # fmt: skip
    (tmp_path / "charades_test.json").write_text(json.dumps(data))
    bench = load_charades_sta(tmp_path / "charades_test.json")
    assert bench.annotation_format == "activitynet"
    assert _spans(bench) == [
        ("0", "3MSZA", "person turn a light on.", 24.3, 30.4, 30.96),
        ("1", "3MSZA", "person flipped the light switch near the door.", 24.3, 30.4, 30.96),
        ("2", "AKO6M", "a person sits down.", 12.7, 19.9, 18.58),
    ]
    # an explicit durations mapping wins over the file's
    assert (
        load_charades_sta(tmp_path / "charades_test.json", durations={"AKO6M": 18.0})
        .items[2]
        .duration_seconds
        == 18.0
    )


def test_lmms_eval_parquet_and_moment_detr_jsonl(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({
        "video": ["3MSZA.mp4", "AMT7R.mp4"],
        "caption": ["person turn a light on.", "a person is putting a picture onto the wall."],
        "timestamp": pa.array([[24.3, 30.4], [4.3, 12.5]], type=pa.list_(pa.float16())),
    })  # fmt: skip
    pq.write_table(table, tmp_path / "test.parquet")
    bench = load_charades_sta(tmp_path / "test.parquet")
    assert bench.annotation_format == "lmms_eval"
    assert [(i.query_id, i.video_id) for i in bench.items] == [("0", "3MSZA"), ("1", "AMT7R")]
    assert bench.items[0].start_seconds == pytest.approx(24.3, abs=0.02)  # float16 in the HF table

    rows = [{"qid": 7, "query": "person turn a light on.", "duration": 30.96, "vid": "3MSZA",
             "relevant_windows": [[24.3, 30.4]]}]  # fmt: skip
    (tmp_path / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    bench = load_charades_sta(tmp_path / "test.jsonl")
    assert bench.annotation_format == "moment_detr"
    assert _spans(bench) == [("7", "3MSZA", "person turn a light on.", 24.3, 30.4, 30.96)]


def test_timelens_reannotation_loads_but_is_not_comparable(tmp_path):
    data = {"3MSZA": {"duration": 31.0, "spans": [[25, 30]], "queries": ["person turns on the light."]}}
    (tmp_path / "charades_timelens.json").write_text(json.dumps(data))
    bench = load_charades_sta(tmp_path / "charades_timelens.json")
    assert bench.annotation_format == "timelens" and not bench.comparable
    assert _spans(bench) == [("0", "3MSZA", "person turns on the light.", 25.0, 30.0, 31.0)]


def test_duplicate_ids_and_missing_file_are_refused(tmp_path):
    data = {"annotations": [{"image_id": "A.mp4", "caption": "x.", "timestamp": [0, 1], "id": 0}] * 2}
    (tmp_path / "dup.json").write_text(json.dumps(data))
    with pytest.raises(AnnotationError, match="appears twice"):
        load_charades_sta(tmp_path / "dup.json")
    with pytest.raises(AnnotationError, match="not found"):
        load_charades_sta(tmp_path / "nope.txt")


# --------------------------------------------------------------------------------------------- LVBench


def test_lvbench_meta_jsonl(tmp_path):
    other = {"key": "abc-_12", "type": "sport", "qa": [
        {"uid": "900", "question": "Who wins?\n(A) red\n(B) blue\n(C) green\n(D) nobody", "answer": "A",
         "question_type": ["entity recognition", "temporal grounding", "summarization"],
         "time_reference": "1:02:03-1:05:00"}]}  # fmt: skip
    path = tmp_path / "video_info.meta.jsonl"
    path.write_text(json.dumps(LVBENCH_RECORD) + "\n" + json.dumps(other) + "\n")
    bench = load_lvbench(path)
    assert [i.question_id for i in bench.items] == ["55", "56", "900"]
    assert bench.video_ids == ["Cm73ma6Ibcs", "abc-_12"]
    first, second, third = bench.items
    assert first.video_type == "cartoon" and first.answer == "D"
    assert first.stem == "What year appears in the opening caption of the video?"
    assert first.options == ("1636", "1366", "1363", "1633")
    assert first.question == LVBENCH_RECORD["qa"][0]["question"]
    assert first.capabilities == ("KIR",) and first.question_types == ("key information retrieval",)
    assert first.time_reference_seconds == (15.0, 19.0)
    assert second.capabilities == ("EU", "Rea") and second.time_reference_seconds == (0.0, 76.0)
    assert third.capabilities == ("ER", "TG", "Sum") and third.time_reference_seconds == (3723.0, 3900.0)


def test_lvbench_flat_rows(tmp_path):
    qa = LVBENCH_RECORD["qa"][0]
    row = {"video_path": "Cm73ma6Ibcs.mp4", "key": "Cm73ma6Ibcs", "type": "cartoon", **qa}
    (tmp_path / "lvbench.jsonl").write_text(json.dumps(row) + "\n")
    (item,) = load_lvbench(tmp_path / "lvbench.jsonl").items
    assert (item.question_id, item.video_id, item.answer, item.capabilities) == (
        "55",
        "Cm73ma6Ibcs",
        "D",
        ("KIR",),
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"answer": "E"}, "answer must be one of A-D"),
        ({"question": "Which?\n(A) x\n(B) y\n(D) z\n(C) w"}, r"options \(A\) \(B\) \(C\) \(D\) in order"),
        ({"question": "Which one, no options?"}, "no stem followed by"),
        ({"question_type": []}, "question_type is empty"),
    ],
)
def test_lvbench_bad_records_are_refused(change, message):
    with pytest.raises(AnnotationError, match=message):
        parse_lvbench_record("Cm73ma6Ibcs", "cartoon", {**LVBENCH_RECORD["qa"][0], **change})


# --------------------------------------------------------------------------------------------- prompts


def test_lmms_eval_charades_prompt_is_reproduced_exactly():
    item = parse_charades_sta_lines(["3MSZA 24.3 30.4##person turn a light on."])[0]
    question = charades_question(item)
    assert question.prompt == (
        "Please find the visual event described by a sentence in the video, determining its starting and "
        "ending times. The format should be: 'The event happens in the start time - end time'. For example, "
        "The event 'person turn a light on' happens in the 24.3 - 30.4 seonds. Now I will give you the "
        "textual sentence: person turn a light on.. Please return its start time and end time."
    )
    assert (question.task, question.question_id, question.question) == (
        "grounding",
        "0",
        "person turn a light on.",
    )
    from videoqa.core import prompts

    assert question.prompt == prompts.grounding_prompt(item.sentence, style="lmms_eval")


def test_lmms_eval_lvbench_prompt_is_reproduced_exactly():
    item = parse_lvbench_record("Cm73ma6Ibcs", "cartoon", LVBENCH_RECORD["qa"][0])
    question = lvbench_question(item)
    assert question.prompt == (
        "What year appears in the opening caption of the video?\n(A) 1636\n(B) 1366\n(C) 1363\n(D) 1633"
        "\nAnswer the question with the option letter"
    )
    assert question.task == "choice" and question.options == ["1636", "1366", "1363", "1633"]
    assert question.question == "What year appears in the opening caption of the video?"


def test_native_prompts_come_from_videoqa_prompts():
    from videoqa.core import prompts

    item = parse_charades_sta_lines(["3MSZA 24.3 30.4##person turn a light on."])[0]
    question = charades_question(item, style="native")
    assert question.prompt is None
    assert prompt_text(question) == prompts.grounding_prompt("person turn a light on.")
    choice = lvbench_question(parse_lvbench_record("k", "tv", LVBENCH_RECORD["qa"][1]), style="native")
    assert choice.prompt is None and choice.question == "How is the weather like in the opening?"
    assert prompt_text(choice) == prompts.choice_prompt(
        choice.question, ["Cloudy", "Snowy", "Sunny", "Rainy"]
    )
    with pytest.raises(ValueError, match="prompt style"):
        charades_question(item, style="timechat")


# --------------------------------------------------------------------------------------------- command line


def test_command_line_builds_the_eval_config():
    import argparse

    from videoqa.eval._cli import add_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        ["charades-sta", "--annotations", "a.txt", "--videos", "v/", "--durations", "d.csv", "--output", "o/",
         "--limit", "5", "--resume", "--address", "auto", "--replicas", "4", "--clip-ground-truth"]
    )  # fmt: skip
    config = config_from_args(args)
    assert (config.benchmark, config.limit, config.durations) == ("charades-sta", 5, "d.csv")
    assert config.clip_ground_truth is True
    assert config.job["resume"] is True and config.job["address"] == "auto" and config.job["replicas"] == 4
    settings = config.resolved_settings()
    assert (settings.strategy, settings.max_frames, settings.max_new_tokens) == ("single", 768, 50)
    assert settings.total_pixels == 24576 * 28 * 28 and settings.prompt_style == "lmms_eval"

    args = parser.parse_args(["lvbench", "--annotations", "m.jsonl", "--videos", "v/", "--output", "o/",
                              "--prompt", "native", "--fps", "1"])  # fmt: skip
    settings = config_from_args(args).resolved_settings()
    assert (settings.max_new_tokens, settings.prompt_style, settings.fps) == (512, "qwen_cookbook", 1.0)
    with pytest.raises(SystemExit):  # --durations is Charades-only
        parser.parse_args(
            ["lvbench", "--annotations", "m", "--videos", "v", "--output", "o", "--durations", "d"]
        )


def test_find_videos_lists_present_and_missing(tmp_path):
    import fsspec

    from videoqa.eval._run import find_videos

    (tmp_path / "3MSZA.mp4").write_bytes(b"x")
    (tmp_path / "AMT7R.mkv").write_bytes(b"x")  # another suffix: missing only when --video-suffix .mp4
    found, missing = find_videos(str(tmp_path), ["3MSZA", "AMT7R", "YVKIV"], suffix=".mp4")
    assert found == {"3MSZA": str(tmp_path / "3MSZA.mp4")} and missing == ["AMT7R", "YVKIV"]
    fs = fsspec.filesystem("memory")
    fs.pipe("/lvbench-test/videos/Cm73ma6Ibcs.mp4", b"x")
    try:
        found, missing = find_videos("memory://lvbench-test/videos/", ["Cm73ma6Ibcs", "28CIeC8cZks"])
    finally:
        fs.rm("/lvbench-test", recursive=True)
    assert found == {"Cm73ma6Ibcs": "memory:///lvbench-test/videos/Cm73ma6Ibcs.mp4"} and missing == [
        "28CIeC8cZks"
    ]
    with pytest.raises(FileNotFoundError, match="not a folder"):
        find_videos(str(tmp_path / "nope"), ["3MSZA"])

"""Batch-job pieces without Ray: listing, questions, unit planning, idempotent writing, resume, CLI."""

from __future__ import annotations

import json

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from videoqa.analysis import Question
from videoqa.batch._inputs import (
    QuestionsFileError,
    QuestionSpec,
    VideoRef,
    list_videos,
    match_questions,
    read_questions,
)

EXT = (".mp4", ".mkv")


def test_list_folder_recursively_with_relative_ids(folder):
    refs = list_videos(str(folder), extensions=EXT)
    assert [r.video_id for r in refs] == ["a.mp4", "b.MKV", "sub/c.mp4", "sub/deep/d.mp4"]
    assert refs[2].url == str(folder / "sub" / "c.mp4")
    assert [r.video_id for r in list_videos(str(folder), extensions=())] == [
        "a.mp4",
        "b.MKV",
        "notes.txt",
        "sub/c.mp4",
        "sub/deep/d.mp4",
    ]


def test_list_glob_single_file_and_manifests(folder):
    # a glob's ids are relative to its fixed folder part
    assert [r.video_id for r in list_videos(f"{folder}/sub/**/*.mp4", extensions=EXT)] == [
        "c.mp4",
        "deep/d.mp4",
    ]
    assert [r.video_id for r in list_videos(f"{folder}/*.mp4", extensions=EXT)] == ["a.mp4"]
    assert list_videos(str(folder / "a.mp4"), extensions=EXT)[0].url == str(folder / "a.mp4")
    (folder / "list.txt").write_text("# a comment\na.mp4\nsub/c.mp4\n\ns3://other/x.mp4\n")
    refs = list_videos(str(folder / "list.txt"), extensions=EXT)
    assert [(r.video_id, r.url) for r in refs] == [
        ("a.mp4", str(folder / "a.mp4")),
        ("s3://other/x.mp4", "s3://other/x.mp4"),
        ("sub/c.mp4", str(folder / "sub/c.mp4")),
    ]
    (folder / "list.csv").write_text("video,extra\nsub/deep/d.mp4,1\n")
    assert [r.video_id for r in list_videos(str(folder / "list.csv"))] == ["sub/deep/d.mp4"]


def test_list_memory_filesystem_keeps_the_protocol():
    fs = fsspec.filesystem("memory")
    fs.pipe({"/bkt/v/x.mp4": b"1", "/bkt/v/y/z.webm": b"2"})
    refs = list_videos("memory://bkt/v", extensions=(".mp4", ".webm"))
    assert [(r.video_id, r.url) for r in refs] == [
        ("x.mp4", "memory:///bkt/v/x.mp4"),
        ("y/z.webm", "memory:///bkt/v/y/z.webm"),
    ]


def test_list_errors_name_the_input(folder):
    with pytest.raises(FileNotFoundError, match="nothing exists there"):
        list_videos(str(folder / "missing"))
    with pytest.raises(ValueError, match="names no video"):
        list_videos(str(folder), extensions=(".avi",))


def test_questions_from_jsonl_csv_and_parquet(tmp_path):
    rows = [
        {"question_id": "q1", "question": "when red?", "task": "grounding"},
        {
            "question_id": "q2",
            "question": "which?",
            "task": "choice",
            "options": ["red", "blue"],
            "videos": "sub/*",
        },
        {"question_id": "007", "question": "what?", "video": "a"},
    ]
    (tmp_path / "q.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "q.csv").write_text(
        "question_id,question,task,options,videos\nq1,when red?,grounding,,\n"
        'q2,which?,choice,"[""red"", ""blue""]",sub/*\n007,what?,,,a\n'
    )
    columns = ("question_id", "question", "task", "options", "videos", "video")
    table = pa.Table.from_pylist([{c: r.get(c) for c in columns} for r in rows])
    pq.write_table(table, tmp_path / "q.parquet")
    for name in ("q.jsonl", "q.csv", "q.parquet"):
        specs = read_questions(str(tmp_path / name))
        assert [s.question for s in specs] == [
            Question(question_id="q1", question="when red?", task="grounding"),
            Question(question_id="q2", question="which?", task="choice", options=["red", "blue"]),
            Question(question_id="007", question="what?"),
        ], name
        assert [s.videos for s in specs] == ["*", "sub/*", "a"], name


def test_question_errors(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps({"question_id": "x", "question": "?", "task": "count"}) + "\n")
    with pytest.raises(QuestionsFileError, match="line 1: not a valid question"):
        read_questions(str(path))
    path.write_text(
        json.dumps({"question_id": "x", "question": "?"})
        + "\n"
        + json.dumps({"question_id": "x", "question": "!"})
    )
    with pytest.raises(ValueError, match=r"question_id must be unique; these repeat: \['x'\]"):
        read_questions(str(path))


@pytest.mark.parametrize(
    ("name", "content", "where", "problem"),
    [
        # blank lines count: the bad row is on file line 4, not "row 2"
        ("q.jsonl", b'{"question_id": "a", "question": "?"}\n\n\n{"question_id": "b", "question": ?}\n',
         "line 4", "not valid JSON"),
        ("q.jsonl", b'{"question_id": "a", "question": "?"}\n["not", "an", "object"]\n', "line 2",
         "expected a JSON object per line, got list"),
        ("q.jsonl", b'{"question_id": "a", "question": "caf\xe9?"}\n', "line 1",
         "not UTF-8 text (byte 0xe9)"),
        ("q.csv", b"question_id,question\na,caf\xe9\n", "line 2", "not UTF-8 text (byte 0xe9)"),
        ("q.jsonl", b'{"question_id": "a", "question": "?", "task": "choice"}\n', "line 1",
         "task='choice' needs options"),
        ("q.jsonl", b'{"question_id": "a", "question": "?", "task": "choice", "options": "abc"}\n', "line 1",
         "options must be a list of option texts, not one string: got 'abc'"),
        ("q.jsonl", b'{"question_id": "a", "question": "?", "options": 3}\n', "line 1",
         "options must be a list of option texts, got 3"),
        ("q.csv", b"question_id,question,task\na,?,qa\nb,?,choice\n", "line 3",
         "task='choice' needs options"),
        ("q.parquet", b"PAR1 this is not parquet", None, "cannot be read as parquet"),
    ],
)  # fmt: skip
def test_question_file_errors_name_the_file_and_line(tmp_path, name, content, where, problem):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(QuestionsFileError) as info:
        read_questions(str(path))
    error = info.value
    assert (error.path, error.where) == (str(path), where)
    assert problem in error.problem
    assert str(error).startswith(f"--questions {path}" + (f", {where}: " if where else ": "))
    assert isinstance(error, ValueError)


def test_selectors_match_id_stem_glob_and_all(folder, tmp_path):
    (tmp_path / "q.jsonl").write_text(
        "".join(
            json.dumps(r) + "\n"
            for r in [
                {"question_id": "all", "question": "?"},
                {"question_id": "stem", "question": "?", "videos": "a"},
                {"question_id": "glob", "question": "?", "videos": "sub/**"},
                {"question_id": "typo", "question": "?", "videos": "nope.mp4"},
            ]
        )
    )
    pairs, unmatched = match_questions(
        list_videos(str(folder), extensions=EXT), read_questions(str(tmp_path / "q.jsonl"))
    )
    assert [(v.video_id, [q.question_id for q in qs]) for v, qs in pairs] == [
        ("a.mp4", ["all", "stem"]),
        ("b.MKV", ["all"]),
        ("sub/c.mp4", ["all", "glob"]),
        ("sub/deep/d.mp4", ["all", "glob"]),
    ]
    assert unmatched == ["typo"]


def test_indexed_matching_of_mixed_selectors_is_exact():
    videos = [
        VideoRef("/data/a.mp4", "a.mp4"),
        VideoRef("/data/b.mkv", "b.mkv"),
        VideoRef("s3://bucket/sub/c.mp4", "sub/c.mp4"),
        VideoRef("/data/sub/a.mp4", "sub/a.mp4"),
    ]
    selectors = {
        "every": "ALL",
        "blank": " ",
        "id": "a.mp4",
        "stem": "b",
        "url": "s3://bucket/sub/c.mp4",
        "padded": "  sub/a  ",
        "same_id": "a.mp4",
        "glob_stem": "sub/?",
        "glob_url": "s3://*",
        "glob_set": "[ab].*",
        "nothing": "c.mp4",
        "no_glob": "z*",
    }
    specs = [QuestionSpec(Question(question_id=q, question="?"), videos=v) for q, v in selectors.items()]
    pairs, unmatched = match_questions(videos, specs)
    got = [(v.video_id, [q.question_id for q in qs]) for v, qs in pairs]
    assert got == [
        ("a.mp4", ["every", "blank", "id", "same_id", "glob_set"]),
        ("b.mkv", ["every", "blank", "stem", "glob_set"]),
        ("sub/c.mp4", ["every", "blank", "url", "glob_stem", "glob_url"]),
        ("sub/a.mp4", ["every", "blank", "padded", "glob_stem"]),
    ]
    assert unmatched == ["nothing", "no_glob"]
    # the index gives exactly what asking every (video, question) pair gives, in the same order
    assert got == [(v.video_id, [s.question.question_id for s in specs if s.matches(v)]) for v in videos]

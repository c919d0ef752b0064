"""Batch-job pieces without Ray, second part: idempotent writing, resume, job config, CLI, retries."""

from __future__ import annotations

import argparse
import json
import posixpath

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from tests.batch_util import read_table, run_args
from videoqa.analysis import Question
from videoqa.batch import JobConfig
from videoqa.batch._cli import add_arguments, config_from_args
from videoqa.batch._job import plan_units
from videoqa.batch._resume import finished_item_keys
from videoqa.batch._writer import write_unit
from videoqa.core.settings import Settings
from videoqa.records import TableRows, config_hash, failure_row


def _failures(video: str, qids: list[str], config: str = "c") -> TableRows:
    rows = [
        failure_row(
            ("E", "boom"), video=video, video_id=video, question=Question(question_id=q, question="?"),
            model_id="m", settings=Settings(), config=config, stage="probe", attempts=1,
        )
        for q in qids
    ]  # fmt: skip
    return TableRows(failures=rows)


def test_writer_is_idempotent_and_resume_reads_the_keys(tmp_path):
    out = str(tmp_path / "out")
    assert read_table(out, "answers").num_rows == 0 and finished_item_keys(out) == set()
    first = write_unit(out, _failures("v1", ["q1", "q2"]))
    again = write_unit(out, _failures("v1", ["q1", "q2"]))
    assert first == again and list(first) == ["failures"]
    write_unit(out, _failures("v2", ["q1"]))
    table = read_table(out, "failures")
    assert sorted(zip(table["video"].to_pylist(), table["question_id"].to_pylist(), strict=True)) == [
        ("v1", "q1"),
        ("v1", "q2"),
        ("v2", "q1"),
    ]
    assert finished_item_keys(out) == set(table["item_key"].to_pylist())
    assert not list((tmp_path / "out" / "failures").glob(".*"))  # no temporary files left behind
    field = pq.read_schema(first["failures"]).field("error_type")
    assert field.metadata[b"description"] == b"Exception class name, e.g. 'TruncatedVideoError'."


def test_plan_units_skips_finished_items_on_resume(folder, tmp_path):
    (tmp_path / "q.jsonl").write_text(
        json.dumps({"question_id": "q1", "question": "?"})
        + "\n"
        + json.dumps({"question_id": "q2", "question": "!"})
    )
    config = JobConfig(
        videos=str(folder), questions=str(tmp_path / "q.jsonl"), output=str(tmp_path / "out"), model="m"
    )
    units, total, skipped, _ = plan_units(config)
    assert (len(units), total, skipped) == (4, 8, 0)  # notes.txt is not a video ending
    a_unit = next(u for u in units if u["video_id"] == "a.mp4")
    q1 = Question(question_id="q1", question="?")
    row = failure_row(
        ("E", "x"), video=a_unit["video"], video_id="a.mp4", question=q1, model_id="m",
        settings=config.settings, config=config.config_hash, stage="probe", attempts=1,
    )  # fmt: skip
    write_unit(config.output, TableRows(failures=[row]))
    resumed = config.model_copy(update={"resume": True})
    units, total, skipped, _ = plan_units(resumed)
    assert (len(units), total, skipped) == (4, 8, 1)
    assert [
        q["question_id"]
        for q in json.loads(next(u for u in units if u["video_id"] == "a.mp4")["questions_json"])
    ] == ["q2"]
    # another config (here: another fps) shares nothing with the written rows
    other = resumed.model_copy(update={"settings": Settings(fps=1.0)})
    assert plan_units(other).skipped_items == 0


def test_job_config_forbids_unknown_fields_and_hashes_answer_settings_only():
    base = JobConfig(videos="v", questions="q", output="o", model="m")
    with pytest.raises(ValidationError):
        JobConfig(videos="v", questions="q", output="o", replicaz=2)
    assert base.config_hash == config_hash("m", Settings())
    resources = {"replicas": 8, "decode_workers": 16, "windows_per_call": 4}
    assert base.model_copy(update=resources).config_hash == base.config_hash


def test_cli_flags_and_config_file(tmp_path):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    (tmp_path / "job.yaml").write_text(
        "videos: s3://b/v/\nquestions: q.jsonl\noutput: o\nreplicas: 3\n"
        "settings: {fps: 0.5, coarse_fps: 0.25}\n"
    )
    argv = ["--config", str(tmp_path / "job.yaml"), "--fps", "1.5", "--max-frames", "64", "--resume"]
    argv += ["--replicas", "2", "--storage-options", '{"anon": true}', "--video-extensions", ".mp4,.webm"]
    args = parser.parse_args(argv)
    config = config_from_args(args)
    assert (config.videos, config.replicas, config.resume, config.storage_options) == (
        "s3://b/v/",
        2,
        True,
        {"anon": True},
    )
    assert config.settings == Settings(fps=1.5, max_frames=64, coarse_fps=0.25)  # flags over the file
    assert config.video_extensions == (".mp4", ".webm")


def test_job_config_reads_the_deprecated_names_of_older_files(tmp_path):
    (tmp_path / "old.yaml").write_text(
        "videos: v\nquestions: q\noutput: o\nbatch_size: 2\n"
        "sampling: {sampling_fps: 0.5, strategy: single, max_new_tokens: 32}\n"
    )
    with pytest.warns(DeprecationWarning) as warned:
        config = JobConfig.from_file(tmp_path / "old.yaml")
    assert sorted(str(w.message).split(" is now ")[0] for w in warned) == [
        "JobConfig.batch_size", "JobConfig.sampling (row column names)"
    ]  # fmt: skip
    assert config.windows_per_call == 2
    assert config.settings == Settings(fps=0.5, strategy="single", max_new_tokens=32)
    with pytest.raises(ValidationError, match="give windows_per_call only"), pytest.warns(DeprecationWarning):
        JobConfig(videos="v", questions="q", output="o", batch_size=2, windows_per_call=3)


def test_ray_cluster_yaml_is_a_valid_cluster_launcher_config():
    import os
    from pathlib import Path

    import jsonschema
    import ray
    import yaml

    repo = Path(__file__).resolve().parent.parent
    config = yaml.safe_load((repo / "ray_cluster.yaml").read_text())
    schema_path = Path(os.path.dirname(ray.__file__)) / "autoscaler" / "ray-schema.json"
    jsonschema.validate(config, json.loads(schema_path.read_text()))
    workers = config["available_node_types"]["gpu_worker"]
    assert (workers["min_workers"], workers["max_workers"]) == (1, 8)
    assert config["available_node_types"][config["head_node_type"]]["resources"] == {"CPU": 0}
    assert config["setup_commands"] == [
        "pip install -U pip",
        'pip install -e "/home/ray/videoqa[cluster,gpu,s3]"',
    ]


def test_model_actor_session_gets_the_job_settings():
    from videoqa.batch._session import build_session

    settings = Settings(fps=0.5, coarse_window_seconds=300.0, max_new_tokens=32)
    config = JobConfig(videos="v", questions="q", output="o", model="builtin:scripted", settings=settings)
    session = build_session(config, num_gpus=0)
    assert session.settings == settings
    assert session.model.model_id == "builtin:scripted"


def test_cli_reports_bad_inputs_without_a_traceback(tmp_path, capsys):
    from videoqa.batch._cli import run

    assert run(run_args(tmp_path / "none", "q.jsonl")) == 2
    assert capsys.readouterr().out == (
        f"videoqa run: --videos {str(tmp_path / 'none')!r}: nothing exists there; "
        "give a folder, prefix, glob or manifest.\n"
    )
    (tmp_path / "v.mp4").write_bytes(b"x")
    (tmp_path / "q.jsonl").write_text(
        json.dumps({"question_id": "x", "question": "?", "task": "count"}) + "\n"
    )
    # an invalid question row is reported before Ray starts
    assert run(run_args(tmp_path / "v.mp4", tmp_path / "q.jsonl")) == 2
    assert capsys.readouterr().out.startswith(
        f"videoqa run: --questions {tmp_path / 'q.jsonl'}, line 1: not a valid question"
    )


def test_units_carry_clips_as_large_binary_without_copying_one_unit():
    from videoqa.batch._stages import make_unit, unit_schema, unit_table

    row = {**make_unit("k", "/v/a.mp4", "a.mp4", [Question(question="?")]), "clips_pickle": b"\x01" * 1000}
    table = unit_table([row])
    assert table.schema == unit_schema()
    assert table.schema.field("clips_pickle").type == pa.large_binary()  # one hour of clips can pass 2 GB
    buffer = table.column("clips_pickle").chunk(0).buffers()[2]
    assert buffer.address == pa.py_buffer(row["clips_pickle"]).address  # wrapped, not copied
    two = unit_table([row, {**row, "unit_key": "k2", "clips_pickle": b""}])
    assert two.column("clips_pickle").to_pylist() == [b"\x01" * 1000, b""]
    assert two.column("questions_json").to_pylist()[0] == row["questions_json"]


def test_stages_name_the_columns_they_lack(tmp_path):
    from videoqa.batch._stages import make_unit, write_outputs

    config = JobConfig(videos=str(tmp_path), questions="q.jsonl", output=str(tmp_path / "out"))
    unit = make_unit("k", "/v.mp4", "v.mp4", [Question(question_id="q", question="?")])
    del unit["tables_json"], unit["model_calls"]
    with pytest.raises(
        KeyError, match=r"\['tables_json', 'model_calls'\] not found at the input of write_outputs"
    ):
        write_outputs(unit, config_json=config.model_dump_json())
    assert not (tmp_path / "out").exists()  # nothing was written


def test_is_transient_retries_io_hiccups_not_path_errors():
    from videoqa.batch._guard import is_transient
    from videoqa.errors import TruncatedVideoError

    transient = [ConnectionResetError("reset"), TimeoutError("slow"), OSError(5, "I/O error")]
    permanent = [
        FileNotFoundError("x"), FileExistsError("x"), PermissionError("x"), IsADirectoryError("x"),
        NotADirectoryError("x"), ValueError("x"), TruncatedVideoError("v.mp4", "ends early"),
    ]  # fmt: skip
    assert [is_transient(e) for e in transient + permanent] == [True] * 3 + [False] * 7


def test_write_outputs_retries_transient_write_errors_only(tmp_path, monkeypatch):
    from videoqa.batch import _stages

    config = JobConfig(
        videos=str(tmp_path), questions="q.jsonl", output=str(tmp_path / "out"), max_attempts=3
    )
    unit = _stages.make_unit("k", "/v.mp4", "v.mp4", [Question(question_id="q", question="?")])
    unit["failure_json"] = json.dumps(
        {"stage": "probe", "error_type": "E", "error": "boom", "transient": False, "attempts": 1}
    )
    calls: list[str] = []
    errors = [ConnectionResetError("reset"), ConnectionResetError("reset")]

    def flaky(output, tables, **kwargs):
        calls.append(output)
        if errors:
            raise errors.pop()
        return write_unit(output, tables, **kwargs)

    monkeypatch.setattr(_stages, "write_unit", flaky)
    monkeypatch.setattr(_stages.time, "sleep", lambda seconds: None)
    summary = _stages.write_outputs(unit, config_json=config.model_dump_json())
    assert (len(calls), summary["failures"], summary["failed_stage"]) == (3, 1, "probe")
    assert read_table(config.output, "failures")["question_id"].to_pylist() == ["q"]

    calls.clear()
    errors[:] = [PermissionError("read-only bucket")]
    with pytest.raises(PermissionError, match="read-only bucket"):
        _stages.write_outputs(unit, config_json=config.model_dump_json())
    assert len(calls) == 1  # a permanent error is not retried


@pytest.mark.parametrize("where", ["local", "memory"])
def test_writer_removes_superseded_rows_of_other_files_and_keeps_the_others(tmp_path, where):
    out = str(tmp_path / "out") if where == "local" else f"memory://retry-{tmp_path.name}/out"
    fs, root = fsspec.core.url_to_fs(out)
    rows = _failures("v1", ["q1", "q2", "q3"])
    own = posixpath.basename(write_unit(out, rows)["failures"])
    # an older layout's file holding q1 and q3 again: a unit re-running q1 removes q1's row there
    legacy = posixpath.join(root, "failures", "part-legacy.parquet")
    fs.copy(posixpath.join(root, "failures", own), legacy)
    assert read_table(out, "failures").num_rows == 3  # the reader resolves duplicates: the last file wins
    write_unit(
        out, _failures("v1", ["q1"]), superseded={"part-legacy.parquet": [rows.failures[0]["item_key"]]}
    )
    with fs.open(legacy, "rb") as f:
        assert sorted(pq.read_table(f).column("question_id").to_pylist()) == ["q2", "q3"]
    assert read_table(out, "failures").num_rows == 3


def test_progress_counts_failed_videos_and_leaves_their_hours_out():
    from videoqa.batch._progress import Progress

    progress = Progress(total_videos=3, total_items=5, interval_seconds=1e9)
    unit = dict(answers=0, no_event=0, prompt_tokens=0, reused_prompt_tokens=0,
                failures=2, spans=0, model_calls=2, decode_seconds=1.0,
                model_seconds=1.0, error_type="", failure_types_json='{"ModelError": 2}')  # fmt: skip
    progress.update({**unit, "duration_seconds": 3600.0})  # every question failed in the model stage
    progress.update({**unit, "duration_seconds": 1e6, "error_type": "TruncatedVideoError"})  # a broken file
    progress.update({**unit, "duration_seconds": 60.0, "answers": 2, "no_event": 1, "failures": 1})
    assert (progress.videos, progress.videos_failed, progress.video_seconds) == (3, 2, 60.0)
    assert (progress.answers, progress.failures, progress.failure_types) == (2, 5, {"ModelError": 6})
    assert progress.no_event == 1  # "the event does not occur" is an answer, counted apart


def test_run_exit_code_and_summary_count_failed_items(tmp_path, monkeypatch, capsys):
    from videoqa.batch import _cli, _job
    from videoqa.batch._progress import Progress

    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "a.mp4").write_bytes(b"x")
    (tmp_path / "q.jsonl").write_text(json.dumps({"question_id": "q1", "question": "?"}) + "\n")
    argv = [tmp_path / "v", tmp_path / "q.jsonl", tmp_path / "o"]

    def fake_run(config, planned, *, started):  # the summary of a run whose only item failed
        progress = Progress(total_videos=1, total_items=1, interval_seconds=1e9)
        unit = dict(answers=0, no_event=0, prompt_tokens=0, reused_prompt_tokens=0,
                    failures=1, spans=0, model_calls=1, decode_seconds=0.0,
                    model_seconds=0.0, duration_seconds=5.0, error_type="",
                    failure_types_json='{"E": 1}')  # fmt: skip
        progress.update(unit)
        return _job._summary(config, progress, 1, 0, [], 1.0)

    monkeypatch.setattr(_job, "run_planned", fake_run)
    assert _cli.run(run_args(*argv)) == 1
    out = capsys.readouterr().out
    assert "failures 1 (1 videos failed)" in out and "(0.000 h of video)" in out and "exit code 1" in out
    # a file as --cache-dir is refused before anything runs
    assert _cli.run(run_args(*argv, "--cache-dir", str(tmp_path / "q.jsonl"))) == 2
    assert "is not a directory" in capsys.readouterr().out


def test_without_an_address_a_local_ray_starts_even_with_a_stale_address_file(tmp_path):
    """A stale ``ray_current_cluster`` file made ``ray.init()`` retry a dead cluster for minutes."""
    import os
    import subprocess
    import sys
    import tempfile

    temp = tempfile.mkdtemp(prefix="vq", dir="/tmp")  # short: Ray's socket paths must stay short
    os.makedirs(f"{temp}/ray")
    with open(f"{temp}/ray/ray_current_cluster", "w") as f:
        f.write("127.0.0.1:9")  # nothing listens there
    script = (
        "import ray\n"
        "from videoqa.batch import JobConfig\n"
        "from videoqa.batch._job import _ray_session\n"
        "c = JobConfig(videos='v', questions='q', output='o', local_num_cpus=1,\n"
        "              local_object_store_bytes=80_000_000)\n"
        "with _ray_session(c):\n"
        "    print('nodes', len(ray.nodes()))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(RAY_TMPDIR=temp, PYTHONPATH=os.getcwd())
    try:
        proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, timeout=150)
    finally:
        subprocess.run(["rm", "-rf", temp], check=False)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    assert proc.stdout.decode().strip().endswith("nodes 1")


def test_retry_failed_is_a_flag_that_needs_resume():
    assert config_from_args(run_args("v", "q", "o", "--resume", "--retry-failed")).retry_failed is True
    assert JobConfig(videos="v", questions="q", output="o").retry_failed is False
    with pytest.raises(ValidationError, match="retry_failed=True needs resume=True"):
        JobConfig(videos="v", questions="q", output="o", retry_failed=True)


def test_read_tables_hides_failures_of_answered_items_and_names_foreign_files(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from videoqa.batch import read_tables
    from videoqa.batch._read import ForeignFileError

    out = tmp_path / "out"
    rows = _failures("v1", ["q1", "q2"])
    write_unit(str(out), rows)
    answered = rows.failures[0]["item_key"]  # q1 also has an answers row (a file of an older videoqa)
    (out / "answers").mkdir(exist_ok=True)
    pq.write_table(
        pa.table({"item_key": [answered], "answer": ["yes"]}), out / "answers" / "part-old.parquet"
    )
    tables = read_tables(
        str(out), columns={"answers": ["item_key", "answer", "outcome"], "failures": ["question_id"]}
    )
    assert tables["failures"].column("question_id").to_pylist() == ["q2"]  # answered and failed: answered
    assert tables["answers"].to_pylist() == [{"item_key": answered, "answer": "yes", "outcome": None}]
    (out / "spans").mkdir(exist_ok=True)
    pq.write_table(pa.table({"x": [1]}), out / "spans" / "part-foreign.parquet")
    with pytest.raises(ForeignFileError, match="not a videoqa spans table"):
        read_tables(str(out), tables=["spans"])
    skipped: list = []
    assert read_tables(str(out), tables=["spans"], skipped=skipped)["spans"].num_rows == 0
    assert [e.problem for e in skipped] == ["not a videoqa spans table (it has no item_key column)"]


def test_model_actors_get_the_runtime_knobs_which_leave_the_hash_alone(tiny_qwen25_path):
    from videoqa.batch._session import build_session

    base = JobConfig(videos="v", questions="q", output="o", model=str(tiny_qwen25_path))
    knobs = base.model_copy(update={"max_batch_tokens": 4096, "prefix_reuse": False})
    session = build_session(knobs, num_gpus=0)
    assert (session.model.load_options.max_batch_tokens, session.model.load_options.prefix_reuse) == (
        4096,
        False,
    )
    assert build_session(base, num_gpus=0).model.load_options.prefix_reuse is True
    assert knobs.config_hash == base.config_hash  # the same answers: the same item keys
    assert config_from_args(run_args("v", "q", "o", "--max-batch-tokens", "8")).max_batch_tokens == 8

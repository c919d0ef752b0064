"""``videoqa analyze``: the answer, its spans and the sampling, as text or JSON; errors as exit codes."""

from __future__ import annotations

import argparse

import videoqa
from videoqa import _analyze_cli


def _cli(argv: list[str], capsys) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    _analyze_cli.add_arguments(parser)
    code = _analyze_cli.run(parser.parse_args(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_prints_the_answer_and_the_sampling(event_video, capsys):
    code, out, err = _cli(
        [str(event_video), "the red square", "--task", "grounding", "--model", "builtin:scripted"], capsys
    )
    assert (code, err) == (0, "")
    lines = out.splitlines()
    digest = videoqa.config_hash("builtin:scripted", videoqa.Settings())
    assert lines[:4] == [
        "answer: 37.0 - 44.0 seconds",
        "span: 37.00 - 44.00 s",
        f"model: builtin:scripted  strategy: single  config: {digest}  video: 60.0 s from 0.00 s",
        "step single: 1 windows, 120 frames at 2 fps, 8640 visual tokens, 0 cached",
    ]


def test_cli_json_and_errors(event_video, capsys):
    argv = [str(event_video), "Which?", "--task", "choice", "--options", "green", "blue", "--json"]
    code, out, _ = _cli([*argv, "--model", "builtin:scripted"], capsys)
    analysis = videoqa.Analysis.model_validate_json(out)
    assert (code, analysis.choice, analysis.question.options) == (0, "B", ["green", "blue"])
    code, _, err = _cli(["missing.mp4", "x", "--model", "builtin:scripted"], capsys)
    assert code == 1 and err.startswith("error: missing.mp4: ")
    code, _, err = _cli([str(event_video), "x", "--task", "choice", "--model", "builtin:scripted"], capsys)
    assert (code, err) == (2, "error: --task choice needs --options\n")


def test_cli_checks_the_html_target_before_the_work(event_video, tmp_path, capsys, monkeypatch):
    import videoqa.core._session

    def no_session(*args, **kwargs):
        raise AssertionError("the model must not load when --html cannot be written")

    monkeypatch.setattr(videoqa.core._session, "Session", no_session)
    missing = tmp_path / "no-such-folder" / "answer.html"
    code, out, err = _cli(
        [str(event_video), "x", "--model", "builtin:scripted", "--html", str(missing)], capsys
    )
    folder = str(tmp_path / "no-such-folder")
    assert (code, out) == (2, "")
    assert err == f"error: --html {missing}: the folder {folder!r} does not exist; create it first\n"
    code, _, err = _cli(
        [str(event_video), "x", "--model", "builtin:scripted", "--html", str(tmp_path)], capsys
    )
    assert (code, err) == (
        2,
        f"error: --html {tmp_path}: is a folder; give a file name such as answer.html\n",
    )


def test_registered_as_videoqa_analyze(event_video, capsys):
    from videoqa.cli import main

    code = main(
        ["analyze", str(event_video), "the blue square", "--task", "grounding", "--model", "builtin:scripted"]
    )
    assert code == 0
    assert capsys.readouterr().out.splitlines()[0] == "answer: 10.0 - 11.5 seconds"


def test_cli_choices_and_defaults_follow_the_library():
    """The task choices are spelled out; every other flag is generated from the library's models."""
    from typing import get_args

    from videoqa.analysis import Task
    from videoqa.core._session import DEFAULT_MODEL

    parser = argparse.ArgumentParser()
    _analyze_cli.add_arguments(parser)
    actions = {a.dest: a for a in parser._actions}
    assert tuple(actions["task"].choices) == get_args(Task)
    assert actions["model"].default == DEFAULT_MODEL
    assert tuple(actions["decode_backend"].choices) == ("pyav", "decord")

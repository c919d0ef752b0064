"""Names that say what they count: ``windows_per_call`` (it counts first-pass windows, not videos), with
``videos_per_call`` / ``--videos-per-call`` kept as deprecated aliases that warn."""

from __future__ import annotations

import argparse

import pytest

from videoqa.batch import JobConfig

JOB = {"videos": "v", "questions": "q", "output": "o", "model": "builtin:scripted"}


def test_job_config_old_name_warns_and_sets_the_new_one():
    with pytest.warns(DeprecationWarning, match="JobConfig.videos_per_call is now windows_per_call"):
        config = JobConfig(**JOB, videos_per_call=3)
    assert config.windows_per_call == 3
    with pytest.raises(ValueError, match="give windows_per_call only"), pytest.warns(DeprecationWarning):
        JobConfig(**JOB, videos_per_call=3, windows_per_call=2)


def test_videoqa_run_old_flag_warns_and_sets_the_new_field(capsys):
    from videoqa.batch._cli import add_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    argv = ["--videos", "v", "--questions", "q", "--output", "o"]
    assert config_from_args(parser.parse_args([*argv, "--windows-per-call", "4"])).windows_per_call == 4
    with pytest.warns(DeprecationWarning, match="--videos-per-call is deprecated; use --windows-per-call"):
        args = parser.parse_args([*argv, "--videos-per-call", "3"])
    assert config_from_args(args).windows_per_call == 3
    assert "--videos-per-call is deprecated" in capsys.readouterr().err
    assert "--videos-per-call" not in parser.format_help()


def test_videoqa_eval_old_flag_warns_and_sets_the_new_field():
    from videoqa.eval._cli import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    argv = ["charades-sta", "--annotations", "a.txt", "--videos", "v", "--output", "o"]
    assert parser.parse_args([*argv, "--windows-per-call", "4"]).windows_per_call == 4
    with pytest.warns(DeprecationWarning, match="--videos-per-call is deprecated"):
        assert parser.parse_args([*argv, "--videos-per-call", "3"]).windows_per_call == 3

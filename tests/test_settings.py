"""One Settings model from the Python API to the CLIs: same effective settings and hash everywhere."""

from __future__ import annotations

import argparse
import inspect

import pytest

import videoqa
from videoqa import _analyze_cli
from videoqa.batch import _cli as run_cli
from videoqa.core.settings import Settings, config_hash
from videoqa.eval import _cli as eval_cli

RED = "When is the red square shown?"


def _parse(add_arguments, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def _run_config(argv: list[str]):
    base = ["--videos", "v/", "--questions", "q.jsonl", "--output", "o", "--model", "builtin:scripted"]
    return run_cli.config_from_args(_parse(run_cli.add_arguments, [*base, *argv]))


def _eval_settings(argv: list[str]) -> tuple[Settings, str]:
    base = ["charades-sta", "--annotations", "a.txt", "--videos", "v/", "--output", "o"]
    config = eval_cli.config_from_args(
        _parse(eval_cli.add_arguments, [*base, "--model", "builtin:scripted", *argv])
    )
    settings = config.resolved_settings()
    return settings, config_hash(config.model, settings)


def _analyze_json(video, argv: list[str], capsys) -> videoqa.Analysis:
    args = _parse(
        _analyze_cli.add_arguments, [str(video), RED, "--model", "builtin:scripted", "--json", *argv]
    )
    assert _analyze_cli.run(args) == 0
    return videoqa.Analysis.model_validate_json(capsys.readouterr().out)


# Flags of the eval CLI whose defaults are the evaluation's (the report's caps, one pass): given
# explicitly here so that the evaluation runs with Settings() like the other three.
_EVAL_TO_LIBRARY_DEFAULTS = [
    "--prompt", "native", "--strategy", "auto",
    "--min-pixels", str(Settings().min_pixels), "--total-pixels", str(Settings().total_pixels),
]  # fmt: skip


@pytest.mark.parametrize(
    ("flags", "keywords"),
    [
        ([], {}),  # the defaults
        (
            ["--fps", "1", "--max-new-tokens", "40", "--repetition-penalty", "1.0", "--coarse-fps", "0.25"],
            {"fps": 1.0, "max_new_tokens": 40, "repetition_penalty": 1.0, "coarse_fps": 0.25},
        ),
    ],
)
def test_python_api_analyze_run_and_eval_agree_on_settings_and_hash(event_video, capsys, flags, keywords):
    api = videoqa.analyze(event_video, RED, model="builtin:scripted", task="grounding", **keywords)
    expected = Settings(**keywords)
    assert (api.settings, api.config_hash) == (expected, config_hash("builtin:scripted", expected))
    cli = _analyze_json(event_video, ["--task", "grounding", *flags], capsys)
    assert (cli.settings, cli.config_hash) == (api.settings, api.config_hash)
    assert cli.spans == api.spans
    job = _run_config(flags)
    assert (job.settings, job.config_hash) == (api.settings, api.config_hash)
    assert _eval_settings([*_EVAL_TO_LIBRARY_DEFAULTS, *flags]) == (api.settings, api.config_hash)


def test_every_cli_has_a_flag_for_every_settings_field():
    def dests(add_arguments, argv_head):
        parser = argparse.ArgumentParser()
        add_arguments(parser)
        if argv_head:  # eval: the flags live on the benchmark's sub-parser
            sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
            parser = sub.choices[argv_head]
        return {a.dest for a in parser._actions}

    for add_arguments, head in ((_analyze_cli.add_arguments, None), (run_cli.add_arguments, None),
                                (eval_cli.add_arguments, "lvbench")):  # fmt: skip
        assert set(Settings.model_fields) <= dests(add_arguments, head)


def test_eval_defaults_are_the_reports_caps_and_lmms_eval_generation():
    settings, digest = _eval_settings([])
    assert settings == Settings(
        strategy="single", min_pixels=16 * 28 * 28, total_pixels=24576 * 28 * 28,
        max_new_tokens=50, prompt_style="lmms_eval",
    )  # fmt: skip
    assert digest == config_hash("builtin:scripted", settings)
    native, _ = _eval_settings(["--prompt", "native"])
    assert (native.max_new_tokens, native.prompt_style) == (Settings().max_new_tokens, "qwen_cookbook")


def test_sampling_defaults_are_the_media_layers():
    """Settings takes its sampling defaults from the media layer; plan_sampling has the same."""
    from videoqa.video import _sampling

    plan_defaults = inspect.signature(_sampling.plan_sampling).parameters
    for name in ("fps", "min_frames", "max_frames", "min_pixels", "max_pixels", "total_pixels"):
        default = getattr(_sampling, f"DEFAULT_{name.upper()}")
        assert Settings.model_fields[name].default == default == plan_defaults[name].default, name


def test_session_keywords_are_sugar_for_settings():
    from videoqa.model._scripted import ScriptedModel

    session = videoqa.Session(ScriptedModel(), fps=1.0, prompt_style="lmms_eval")
    assert session.settings == Settings(fps=1.0, prompt_style="lmms_eval")
    with pytest.raises(ValueError, match="fsp\n  Extra inputs are not permitted"):
        videoqa.Session(ScriptedModel(), fsp=1.0)

"""Every entry point starts a model from the same settings (core.settings.starting_settings, one rule).

A made-up family whose only model is declared with its own starting settings: ``Session``,
``videoqa analyze``, ``videoqa run`` (flags and ``JobConfig``), ``videoqa demo``'s job and
``videoqa eval`` (flags and ``EvalConfig``) all start from them; flags and given settings go over them.
"""

from __future__ import annotations

import argparse

import pytest

from videoqa import Settings
from videoqa.model import families

MODEL = "builtin:scripted-slow-vl"
DECLARED = {"fps": 0.5, "max_frames": 64, "min_pixels": 4 * 28 * 28, "max_new_tokens": 40}
"""Not one of them at its default (Settings() or a benchmark's)."""


@pytest.fixture(scope="module", autouse=True)
def slow_family():
    model = families.BuiltinModel(MODEL, "videoqa.model._scripted:load_scripted", settings=DECLARED)
    family = families.ModelFamily(
        name="slow-vl",
        time_encoding="timestamp_text",
        sampling=families.SamplingProfile(patch_factor=32, targets="uniform", default_tokens=(64, 256, 4096)),
        builtins=(model,),
        system_prompts={"qwen_cookbook": "You are slow.", "lmms_eval": "You are slow."},
    )
    yield families.register_family(family)
    families._REGISTRY.pop("slow-vl", None)
    families.family_of.cache_clear()


def _declared(settings: Settings) -> dict:
    return settings.model_dump(include=set(DECLARED))


def _parse(add_arguments, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def _analyze_cli_settings(argv: list[str], monkeypatch) -> Settings:
    """The settings ``videoqa analyze`` hands its Session (stopped there: no video is read)."""
    from videoqa import _analyze_cli
    from videoqa.core import _session

    class Stop(Exception):
        pass

    def capture(model, settings, **kwargs):
        raise Stop(settings)

    monkeypatch.setattr(_session, "Session", capture)
    args = _parse(_analyze_cli.add_arguments, ["v.mp4", "what?", "--model", MODEL, *argv])
    with pytest.raises(Stop) as stopped:
        _analyze_cli.run(args)
    return stopped.value.args[0]


def test_analyze_run_and_the_session_start_from_the_declared_settings(monkeypatch):
    from videoqa.batch import JobConfig
    from videoqa.batch._cli import add_arguments, config_from_args
    from videoqa.core._session import Session

    declared = Settings(**DECLARED)
    assert Settings.for_model(MODEL) == declared != Settings()
    assert Session(MODEL).settings == declared
    assert _analyze_cli_settings([], monkeypatch) == declared
    run_args = ["--videos", "v", "--questions", "q.jsonl", "--output", "o", "--model", MODEL]
    assert config_from_args(_parse(add_arguments, run_args)).settings == declared
    assert JobConfig(videos="v", questions="q", output="o", model=MODEL).settings == declared
    # a flag or a keyword goes over the model's settings, the same way everywhere
    over = Settings(**{**DECLARED, "fps": 2.0})
    assert Session(MODEL, fps=2.0).settings == over
    assert _analyze_cli_settings(["--fps", "2"], monkeypatch) == over
    assert config_from_args(_parse(add_arguments, [*run_args, "--fps", "2"])).settings == over
    # settings given replace the model's (they are the caller's whole choice)
    assert Session(MODEL, Settings()).settings == Settings()
    assert JobConfig(videos="v", questions="q", output="o", model=MODEL, settings=Settings()).settings == (
        Settings()
    )


@pytest.mark.parametrize("prompt", ["lmms_eval", "native"])
def test_eval_starts_from_the_declared_settings_over_the_benchmarks(prompt):
    from videoqa.eval import EvalConfig
    from videoqa.eval._cli import add_arguments, config_from_args
    from videoqa.eval._run import eval_settings

    argv = ["charades-sta", "--annotations", "a", "--videos", "v", "--output", "o", "--model", MODEL]
    argv += ["--prompt", prompt]
    from_flags = config_from_args(_parse(add_arguments, argv)).settings
    config = EvalConfig(
        benchmark="charades-sta", annotations="a", videos="v", output="o", model=MODEL, prompt=prompt
    )
    benchmark = eval_settings("charades-sta", prompt)
    assert from_flags == config.resolved_settings() == Settings(**{**benchmark.model_dump(), **DECLARED})
    assert _declared(from_flags) == DECLARED != _declared(benchmark)
    with_flag = config_from_args(_parse(add_arguments, [*argv, "--max-frames", "8"])).settings
    assert with_flag == Settings(**{**benchmark.model_dump(), **DECLARED, "max_frames": 8})


def test_the_demo_job_starts_from_the_declared_settings(monkeypatch, tmp_path):
    from videoqa.batch import _demo

    seen = {}

    def run_job(config):
        seen["settings"] = config.settings
        raise SystemExit(0)

    monkeypatch.setattr("videoqa.batch._job.run_job", run_job)
    args = argparse.Namespace(model=MODEL, output=str(tmp_path), num_cpus=1)
    with pytest.raises(SystemExit):
        _demo.run(args)
    assert seen["settings"] == Settings(**{**DECLARED, "fps": 1.0, "max_new_tokens": 24})

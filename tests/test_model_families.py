"""Model families are declared once (videoqa.model.families): a made-up one runs end to end from one file.

``tests/toy_family.py`` declares ``toy-vl`` (a scripted runner with its own sampling profile and time
encoding) and is named in ``$VIDEOQA_MODEL_FAMILIES``, so every process, Ray workers included, learns
it; no other file names it. ``analyze``, ``videoqa run`` (the Ray job) and ``videoqa eval`` run
through it. To add a family, copy this file and ``tests/toy_family.py``.

Expected values, from the declaration: 160x90 video, 2 fps; the toy's defaults are 64 / 256 / 4,096
tokens of 32 x 32 pixels (65,536 / 262,144 / 4,194,304 pixels). 24 s -> 48 frames, per-frame cap
max(min(262144, 4194304 / 48 * 2), 1.05 * 65536) = 174,762; 160x90 is under the 65,536 floor, so
scaled by sqrt(14400 / 65536) = 0.46875 and rounded up to 32: 192 high x 352 wide (6 x 11 = 66 tokens per
frame, 24 temporal patches: 1,584 tokens). Uniform instants every 0.5 s from 0; the red square of
a.mp4 is shown 10.0-14.0 s, so the patches showing it are (10.0, 10.5) .. (13.0, 13.5), stated as
<10.2 seconds> .. <13.2 seconds> (patch means 10.25 / 13.25, one decimal, half to even).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import videoqa
from tests.batch_util import GOOD, tables, write_good_videos, write_questions
from videoqa.analysis import Span
from videoqa.model import families
from videoqa.synthetic import Event, write_video

PLUGIN = "tests.toy_family"
MODEL = "builtin:scripted-toy-vl"
ROOT = str(Path(__file__).resolve().parent.parent)


@pytest.fixture(scope="module")
def toy_family():
    """The plugin named in the environment of this process (and so of the Ray it starts)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(families.FAMILIES_ENV, PLUGIN)
        patch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
        yield families.family("toy-vl")
        families._REGISTRY.pop("toy-vl", None)
        families._plugins_loaded.discard(PLUGIN)
        families.family_of.cache_clear()
        sys.modules.pop(PLUGIN, None)


def test_the_declaration_is_what_everything_asks(toy_family):
    assert toy_family.sampling == families.SamplingProfile(
        family="toy-vl", patch_factor=32, targets="uniform", default_tokens=(64, 256, 4096)
    )
    assert families.model_family(MODEL) == "toy-vl" and MODEL in videoqa.model.BUILTIN_MODELS
    assert families.load_options(MODEL) == ()
    model = videoqa.load_model(MODEL, device="cpu")  # load options it does not take are not passed
    assert (model.model_id, model.temporal.kind, model.sampling) == (
        MODEL,
        "timestamp_text",
        toy_family.sampling,
    )
    assert videoqa.Settings.for_model(MODEL) == videoqa.Settings()
    # the family joins the config hash (its declared policy) when given
    plain = videoqa.config_hash(MODEL, videoqa.Settings())
    assert videoqa.config_hash(MODEL, videoqa.Settings(), family="toy-vl") != plain


def test_every_tiny_kind_has_a_recipe_and_one_family():
    from videoqa.model._tiny import TINY_KINDS

    declared = [b.name.removeprefix("builtin:tiny-") for f in families.families() for b in f.builtins]
    assert sorted(k for k in declared if k in TINY_KINDS) == sorted(TINY_KINDS)
    assert {families.model_family(f"builtin:tiny-{kind}") for kind in TINY_KINDS} == {
        "qwen2.5-vl",
        "qwen2-vl",
        "qwen3-vl",
    }


def test_unknown_names_are_errors_naming_the_declared_ones():
    with pytest.raises(
        ValueError, match=r"unknown model family 'qwen9-vl'; declared families: \['qwen2.5-vl'"
    ):
        families.family("qwen9-vl")
    with pytest.raises(
        videoqa.errors.ModelError, match="model_type 'llava' is not supported; videoqa runs qwen2_5_vl"
    ):
        families.family_of_model_type("llava")
    with pytest.raises(ValueError, match="unknown model family"):
        videoqa.config_hash("m", videoqa.Settings(), family="qwen9-vl")
    with pytest.raises(ValueError, match="already declared"):
        families.register_family(families.family("qwen3-vl"))


def test_a_model_stating_no_sampling_profile_is_refused(tmp_path):
    from videoqa.model._scripted import ScriptedModel

    class Unstated(ScriptedModel):
        def __init__(self):
            super().__init__()
            self.sampling = None  # was: Qwen2.5-VL's sampling, silently

    video = write_good_videos(tmp_path, {"b.mp4": GOOD["b.mp4"]}) / "b.mp4"
    with pytest.raises(videoqa.errors.ModelError, match="states no sampling profile"):
        videoqa.Session(Unstated()).analyze(video, "Which colours?")


def test_analyze(toy_family, tmp_path):
    video = write_good_videos(tmp_path, {"a.mp4": GOOD["a.mp4"]}) / "a.mp4"
    a = videoqa.analyze(video, "a red square appears", model=MODEL, task="grounding", strategy="single")
    assert (a.model_family, a.answer, a.spans) == (
        "toy-vl",
        "10.2 - 13.2 seconds",
        [Span(start_seconds=10.2, end_seconds=13.2)],
    )
    (window,) = a.windows
    assert (window.num_frames, window.height, window.width, window.visual_tokens) == (48, 192, 352, 1584)


def test_system_prompt_is_the_familys(toy_family, tmp_path):
    from videoqa.model._scripted import ScriptedModel

    seen = []

    class Recording(ScriptedModel):
        def generate(self, requests, **kwargs):
            seen.extend(r.system_prompt for r in requests)
            return super().generate(requests, **kwargs)

    video = write_good_videos(tmp_path, {"b.mp4": GOOD["b.mp4"]}) / "b.mp4"
    videoqa.Session(Recording(family="toy-vl")).analyze(video, "Which colours?", strategy="single")
    videoqa.Session(Recording()).analyze(video, "Which colours?", strategy="single")
    assert seen == ["You are a toy.", None]


@pytest.mark.ray
@pytest.mark.slow
def test_videoqa_run_and_eval(toy_family, tmp_path, capsys):
    pytest.importorskip("ray")
    from videoqa.batch._local_ray import local_ray
    from videoqa.cli import main

    videos = write_good_videos(tmp_path / "videos", {k: GOOD[k] for k in ("a.mp4", "b.mp4")})
    questions = [{"question_id": "when", "question": "a red square appears", "task": "grounding"}]
    write_questions(tmp_path / "q.jsonl", questions)
    folder = tmp_path / "Charades_v1_480"
    write_video(folder / "AAAA1.mp4", duration_seconds=20, fps=4, events=[Event(5.0, 10.0, "red")])
    (tmp_path / "sta.txt").write_text("AAAA1 5.0 10.0##a red square appears.\n")
    job = ["--model", MODEL, "--local-num-cpus", "2", "--decode-workers", "1"]
    env = {"env_vars": {families.FAMILIES_ENV: PLUGIN, "PYTHONPATH": os.environ["PYTHONPATH"]}}
    with local_ray(num_cpus=2, object_store_bytes=300 * 1024**2, runtime_env=env):  # on 127.0.0.1 only
        argv = ["run", "--videos", str(videos), "--questions", str(tmp_path / "q.jsonl")]
        assert main([*argv, "--output", str(tmp_path / "run"), *job, "--strategy", "single"]) == 0
        argv = ["eval", "charades-sta", "--annotations", str(tmp_path / "sta.txt"), "--videos", str(folder)]
        assert main([*argv, "--output", str(tmp_path / "eval"), *job]) == 0
    t = tables(str(tmp_path / "run"))
    answers = t["answers"].set_index(["video_id", "question_id"])
    assert answers.loc[("a.mp4", "when"), "answer"] == "10.2 - 13.2 seconds"
    assert answers.loc[("b.mp4", "when"), "outcome"] == "no_event"
    assert set(t["answers"]["model_family"]) == {"toy-vl"}
    first = t["windows"][t["windows"].video_id == "a.mp4"].iloc[0]
    assert (first["height"], first["width"], first["visual_tokens"]) == (192, 352, 1584)
    # eval: 20 s at 2 fps, red 5.0-10.0 s: patches (5.0, 5.5) .. (9.0, 9.5) -> <5.2> .. <9.2 seconds>
    (row,) = pq.read_table(tmp_path / "eval" / "items.parquet").to_pylist()
    assert (row["status"], row["pred_start_seconds"], row["pred_end_seconds"]) == ("ok", 5.2, 9.2)
    assert row["iou"] == pytest.approx(4.0 / 5.0)
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    assert summary["config_hash"] == videoqa.config_hash(MODEL, videoqa.Settings(**summary["settings"]))
    assert (summary["settings"]["min_pixels"], summary["all"]["mIoU"]) == (16 * 28 * 28, pytest.approx(80.0))


def test_every_entry_point_starts_from_the_models_declared_settings():
    """Settings.for_model (the grounder's declared budgets) is what Session, run and eval start from."""
    import argparse

    from videoqa.batch import JobConfig
    from videoqa.eval import EvalConfig
    from videoqa.eval._cli import add_arguments, config_from_args

    grounder = "builtin:tiny-grounder"
    declared = {"min_pixels": 784, "max_pixels": 3136, "max_new_tokens": 24}
    picked = set(declared)
    assert videoqa.Settings.for_model(grounder).model_dump(include=picked) == declared
    assert (
        JobConfig(videos="v", questions="q", output="o", model=grounder).settings.model_dump(include=picked)
        == declared
    )
    config = EvalConfig(benchmark="charades-sta", annotations="a", videos="v", output="o", model=grounder)
    assert config.resolved_settings().model_dump(include={*picked, "strategy"}) == {
        **declared,
        "strategy": "single",
    }
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = ["charades-sta", "--annotations", "a", "--videos", "v", "--output", "o", "--model", grounder]
    assert config_from_args(parser.parse_args(args)).settings == config.resolved_settings()

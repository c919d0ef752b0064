"""Benchmarks are declared once: the registry, the generated CLI and pipelines, and a made-up benchmark.

``COLOUR_QUIZ`` below is a benchmark invented for this test, declared in this one file (its own
annotation format, prompt, scorer and results table) and registered; it then runs end to end
through ``videoqa eval colour-quiz`` on generated videos with the scripted model, without any other
file knowing it exists.
"""

from __future__ import annotations

import argparse
import ast
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from videoqa.analysis import Question
from videoqa.eval import Benchmark, EvalConfig, Loaded, UnknownBenchmarkError, get_benchmark, register
from videoqa.eval._cli import add_arguments, config_from_args
from videoqa.eval._declare import all_benchmarks, builtin_benchmarks, unregister

REPO = Path(__file__).resolve().parents[1]

# ------------------------------------------------------------------------------ the made-up benchmark


@dataclass(frozen=True)
class QuizItem:
    item_id: str
    video_id: str
    ask: str
    choices: tuple[str, ...]
    answer: str
    topic: str


def _load_quiz(config) -> Loaded:
    """Its "official" format: a JSON list of {"id", "clip", "ask", "choices", "label" (index), "topic"}."""
    rows = json.loads(Path(config.annotations).read_text())
    items = [
        QuizItem(r["id"], r["clip"], r["ask"], tuple(r["choices"]), "ABCD"[r["label"]], r["topic"])
        for r in rows
    ]
    return Loaded(items, "colour-quiz.json")


def _quiz_question(item: QuizItem, style: str) -> Question:
    lines = "\n".join(f"({letter}) {text}" for letter, text in zip("ABCD", item.choices, strict=False))
    return Question(
        question_id=item.item_id, question=item.ask, task="choice", options=list(item.choices),
        prompt=f"Quiz: {item.ask}\n{lines}\nReply with a letter.",
    )  # fmt: skip


def _score_quiz(items, predictions, prompts, config):
    rows, by_topic = [], {}
    for item in items:
        pred = predictions[item.item_id]
        correct = pred.status == "ok" and pred.letter == item.answer
        by_topic.setdefault(item.topic, []).append(correct)
        rows.append({"id": item.item_id, "status": pred.status, "letter": pred.letter, "correct": correct})
    answered = [r["correct"] for r in rows if r["status"] != "missing_video"]

    def table(results):
        accuracy = 100.0 * sum(results) / len(results) if results else None
        return {"Accuracy": accuracy, "num_items": len(results)}

    per_topic = {topic: table(results)["Accuracy"] for topic, results in by_topic.items()}
    scores = {
        "all": {**table([r["correct"] for r in rows]), **per_topic},
        "answerable": table(answered),
        "num_failed": sum(r["status"] == "failed" for r in rows),
        "scoring": config.scoring,
    }
    return rows, scores


COLOUR_QUIZ = Benchmark(
    name="colour-quiz",
    title="Colour quiz (accuracy)",
    summary="A made-up benchmark of the tests: which colour is shown.",
    load=_load_quiz,
    question=_quiz_question,
    score=_score_quiz,
    columns=("shapes", "colours", "Accuracy"),
    count_key="num_items",
    nouns=("quiz item", "quiz items"),
    notes=lambda summary: [f"Quiz items that failed: {summary['num_failed']}."],
    prompt_styles=("native",),
)


@pytest.fixture
def colour_quiz():
    register(COLOUR_QUIZ)
    yield COLOUR_QUIZ
    unregister(COLOUR_QUIZ.name)


@pytest.mark.ray
def test_a_benchmark_declared_in_one_file_runs_end_to_end(colour_quiz, ray_cluster, tmp_path, capsys):
    from videoqa.eval._cli import main
    from videoqa.synthetic import Event, write_video

    videos = tmp_path / "clips"
    write_video(videos / "clip-red.mp4", duration_seconds=8, fps=4.0, events=[Event(1.0, 6.0, "red")])
    write_video(videos / "clip-blue.mp4", duration_seconds=8, fps=4.0, events=[Event(2.0, 7.0, "blue")])
    quiz = [
        {"id": "q1", "clip": "clip-red", "ask": "Which colour?", "choices": ["green", "red"], "label": 1,
         "topic": "colours"},  # scripted picks B (red): right
        {"id": "q2", "clip": "clip-blue", "ask": "Which colour?", "choices": ["blue", "red"], "label": 1,
         "topic": "colours"},  # picks A (blue): wrong
        {"id": "q3", "clip": "clip-blue", "ask": "Which shape?", "choices": ["a square", "a blue square"],
         "label": 1, "topic": "shapes"},  # picks B (names blue): right
        {"id": "q4", "clip": "clip-gone", "ask": "Which colour?", "choices": ["red", "blue"], "label": 0,
         "topic": "shapes"},  # no video: scored wrong, left out of the answerable subset
    ]  # fmt: skip
    annotations = tmp_path / "quiz.json"
    annotations.write_text(json.dumps(quiz))
    out = tmp_path / "out"
    argv = ["--annotations", str(annotations), "--videos", str(videos), "--output", str(out),
            "--model", "builtin:scripted", "--decode-workers", "1", "--local-num-cpus", "2"]  # fmt: skip
    assert main(argv, benchmark="colour-quiz") == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["benchmark"] == "colour-quiz" and summary["annotation_format"] == "colour-quiz.json"
    assert summary["all"] == {"Accuracy": 50.0, "num_items": 4, "colours": 50.0, "shapes": 50.0}
    assert summary["answerable"] == {"Accuracy": 100.0 * 2 / 3, "num_items": 3}
    assert summary["missing_videos"] == ["clip-gone"]
    table = (out / "results.md").read_text()
    assert "## Colour quiz (accuracy)" in table and table in capsys.readouterr().out
    assert "| builtin:scripted (this run, all 4 quiz items) | 50.0 | 50.0 | 50.0 |" in table
    assert "| builtin:scripted (this run, answerable subset, 3 quiz items) | – | – | 66.7 |" in table
    assert "Quiz items that failed: 0." in table and "Published" not in table
    import pyarrow.parquet as pq

    rows = pq.read_table(out / "items.parquet").to_pylist()
    assert [(r["id"], r["letter"], r["correct"]) for r in rows] == [
        ("q1", "B", True), ("q2", "A", False), ("q3", "B", True), ("q4", None, False)
    ]  # fmt: skip


# ------------------------------------------------------------------------------ the registry


def test_unknown_benchmark_is_an_error_naming_the_known_ones(tmp_path):
    with pytest.raises(
        UnknownBenchmarkError,
        match=r"'videomme-typo'.*charades-sta, longvideobench, lvbench, mlvu, qvhighlights, videomme",
    ):
        get_benchmark("videomme-typo")
    from pydantic import ValidationError

    with pytest.raises(
        ValidationError,
        match="declared benchmarks: activitynet-captions, charades-sta, longvideobench, lvbench, mlvu,",
    ):
        EvalConfig(benchmark="mvbench", annotations="a", videos="v", output="o")
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["mvbench", "--annotations", "a", "--videos", "v", "--output", "o"])


def test_a_name_is_declared_once_and_options_are_checked(colour_quiz):
    with pytest.raises(ValueError, match="already declared"):
        register(COLOUR_QUIZ)
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"\['durations'\] do not apply to colour-quiz"):
        EvalConfig(benchmark="colour-quiz", annotations="a", videos="v", output="o", durations="d.csv")
    with pytest.raises(ValidationError, match="prompt styles"):
        EvalConfig(benchmark="colour-quiz", annotations="a", videos="v", output="o", prompt="lmms_eval")


def test_help_lists_every_declared_benchmark_from_its_declaration(colour_quiz, capsys):
    from videoqa.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["eval", "--help"])
    shown = capsys.readouterr().out
    for benchmark in all_benchmarks():
        assert benchmark.name in shown and benchmark.summary in " ".join(shown.split())


def test_pipelines_are_generated_from_the_declarations():
    from videoqa.eval._pipelines import main, pipeline_files

    assert sorted(pipeline_files()) == sorted(f"eval_{b.slug}.py" for b in builtin_benchmarks())
    assert {"eval_charades_sta.py", "eval_lvbench.py"} <= set(pipeline_files())
    assert main(["--check", str(REPO / "pipelines")]) == 0


def test_no_code_outside_the_declarations_names_a_benchmark():
    """A branch on a benchmark's name (``if benchmark == "charades-sta"``) anywhere else is a defect."""
    names = {b.name for b in builtin_benchmarks()}
    offenders = []
    for path in (REPO / "videoqa").rglob("*.py"):
        if "benchmarks" in path.relative_to(REPO / "videoqa").parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in names:
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno} {node.value!r}")
    assert offenders == []


def test_eval_job_flags_are_generated_from_jobconfig():
    from videoqa.batch import JobConfig

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        ["lvbench", "--annotations", "m.jsonl", "--videos", "v/", "--output", "o/", "--retry-failed",
         "--resume", "--stage-timeout-seconds", "30", "--decode-memory-bytes", "1000000", "--no-prefix-reuse",
         "--storage-options", '{"anon": true}', "--prompt", "lmms-eval", "--scoring", "lmms-eval"]
    )  # fmt: skip
    config = config_from_args(args)
    assert config.job == {
        "retry_failed": True, "resume": True, "stage_timeout_seconds": 30.0, "decode_memory_bytes": 1000000,
        "prefix_reuse": False, "storage_options": {"anon": True},
    }  # fmt: skip
    assert (config.prompt, config.scoring) == ("lmms_eval", "lmms_eval")  # the old spelling is an alias
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["lvbench"]
    dests = {a.dest for a in sub._actions}
    evaluation_sets = {"videos", "questions", "output", "model", "settings", "video_extensions"}
    evaluation_sets.add("subtitle_map")  # --subtitles-dir writes it
    assert set(JobConfig.model_fields) - evaluation_sets <= dests


def test_one_lmms_eval_grounding_prompt():
    """The lmms-eval Charades-STA prompt is held once (videoqa.core.prompts) and used by the declaration."""
    from videoqa.core.prompts import grounding_prompt
    from videoqa.eval import GroundingItem

    item = GroundingItem("0", "3MSZA", "person turn a light on.", 24.3, 30.4)
    question = get_benchmark("charades-sta").question(item, "lmms_eval")
    assert question.prompt == grounding_prompt(item.sentence, style="lmms_eval")
    charades = "Please find the visual event described by a sentence in the video"  # TimeLens: "the sentence"
    held = [p for p in (REPO / "videoqa").rglob("*.py") if charades in p.read_text()]
    assert held == [REPO / "videoqa" / "core" / "prompts.py"]

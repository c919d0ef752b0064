"""Evaluations on video benchmarks, each declared once (:mod:`videoqa.eval.benchmarks`).

A :class:`Benchmark` declaration holds a benchmark's loader of its official annotation format, its
prompts (lmms-eval's, for comparable numbers, and a native one), its scorer and metrics and its
results table; :func:`run_eval` asks the questions through the Ray batch job and writes
``items.parquet``, ``summary.json`` and ``results.md``. From the shell: ``videoqa eval <benchmark> ...``
(``videoqa eval --help`` lists the declared benchmarks).
"""

from typing import Any

from videoqa.eval._charades import (
    GroundingBenchmark,
    GroundingItem,
    load_charades_sta,
    parse_charades_sta_lines,
    read_durations,
)
from videoqa.eval._common import AnnotationError
from videoqa.eval._declare import (
    Benchmark,
    Loaded,
    PageSpec,
    UnknownBenchmarkError,
    benchmark_names,
    get_benchmark,
    register,
)
from videoqa.eval._lvbench import CAPABILITIES, ChoiceBenchmark, ChoiceItem, load_lvbench
from videoqa.eval._metrics import (
    ChoiceScores,
    GroundingScores,
    choice_scores,
    grounding_scores,
    temporal_iou,
)
from videoqa.eval._run import EVAL_SETTINGS, EvalConfig, EvalResult, run_eval
from videoqa.eval.benchmarks.charades_sta import charades_question
from videoqa.eval.benchmarks.lvbench import lvbench_question

__all__ = [
    "CAPABILITIES",
    "EVAL_SETTINGS",
    "PUBLISHED",
    "AnnotationError",
    "Benchmark",
    "ChoiceBenchmark",
    "ChoiceItem",
    "ChoiceScores",
    "EvalConfig",
    "EvalResult",
    "GroundingBenchmark",
    "GroundingItem",
    "GroundingScores",
    "Loaded",
    "PageSpec",
    "UnknownBenchmarkError",
    "benchmark_names",
    "charades_question",
    "choice_scores",
    "get_benchmark",
    "grounding_scores",
    "load_charades_sta",
    "load_lvbench",
    "lvbench_question",
    "parse_charades_sta_lines",
    "read_durations",
    "register",
    "run_eval",
    "temporal_iou",
]


def __getattr__(name: str) -> Any:
    if name == "PUBLISHED":  # {benchmark: {model: {column: value}}}, from the declarations
        from videoqa.eval._report import published

        return published()
    raise AttributeError(f"module 'videoqa.eval' has no attribute {name!r}")

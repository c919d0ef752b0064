"""Evaluations on Charades-STA (temporal grounding) and LVBench (hour-long video QA).

Loaders for the official annotation files, the lmms-eval prompts (and videoqa's own), the metrics
(R@1 at IoU >= 0.3/0.5/0.7 and mIoU; accuracy per capability) and :func:`run_eval`, which asks the
questions through the Ray batch job and writes ``items.parquet``, ``summary.json`` and ``results.md``.
From the shell: ``videoqa eval charades-sta ...`` / ``videoqa eval lvbench ...``.
"""

from videoqa.eval._charades import (
    GroundingBenchmark,
    GroundingItem,
    load_charades_sta,
    parse_charades_sta_lines,
    read_durations,
)
from videoqa.eval._common import AnnotationError
from videoqa.eval._lvbench import CAPABILITIES, ChoiceBenchmark, ChoiceItem, load_lvbench
from videoqa.eval._metrics import (
    ChoiceScores,
    GroundingScores,
    choice_scores,
    grounding_scores,
    temporal_iou,
)
from videoqa.eval._prompts import charades_question, lvbench_question
from videoqa.eval._report import PUBLISHED
from videoqa.eval._run import EVAL_SETTINGS, EvalConfig, EvalResult, run_eval

__all__ = [
    "CAPABILITIES",
    "EVAL_SETTINGS",
    "PUBLISHED",
    "AnnotationError",
    "ChoiceBenchmark",
    "ChoiceItem",
    "ChoiceScores",
    "EvalConfig",
    "EvalResult",
    "GroundingBenchmark",
    "GroundingItem",
    "GroundingScores",
    "charades_question",
    "choice_scores",
    "grounding_scores",
    "load_charades_sta",
    "load_lvbench",
    "lvbench_question",
    "parse_charades_sta_lines",
    "read_durations",
    "run_eval",
    "temporal_iou",
]

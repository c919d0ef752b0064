"""Benchmarks declared once: one :class:`Benchmark` per benchmark, found in ``videoqa/eval/benchmarks/``.

Everything that differs between benchmarks lives in its declaration (lmms-eval's task-folder
style): the loader of the official annotation format, the prompt per style, how answers are
scored and which metrics the results table shows, the ``videoqa eval`` subcommand and the
``pipelines/eval_*.py`` entry point. :func:`videoqa.eval.run_eval`, the CLI, the report and the
pipelines ask the declaration; nothing else branches on a benchmark's name.

A module of :mod:`videoqa.eval.benchmarks` that defines ``BENCHMARK`` is registered when the
registry is first asked (no import-time side effects); :func:`register` adds one from elsewhere
(a plugin, a test). An unknown name is an :class:`UnknownBenchmarkError` naming the known ones.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, get_args

from videoqa.errors import VideoQAError

if TYPE_CHECKING:
    from videoqa.analysis import Question
    from videoqa.eval._run import EvalConfig
    from videoqa.eval._score import Prediction

__all__ = [
    "OPTIONS",
    "PROMPT_STYLES",
    "SCORINGS",
    "Benchmark",
    "EvalItem",
    "Loaded",
    "PageSpec",
    "PromptStyle",
    "Scoring",
    "UnknownBenchmarkError",
    "all_benchmarks",
    "benchmark_names",
    "builtin_benchmarks",
    "canonical_style",
    "get_benchmark",
    "register",
    "unregister",
]

PromptStyle = Literal["lmms_eval", "native"]
"""``lmms_eval``: lmms-eval's prompt of the benchmark (comparable with published tables); ``native``:
the benchmark's own / videoqa's prompt. The spelling is :class:`videoqa.Settings`' ``prompt_style``'s."""
PROMPT_STYLES: tuple[str, ...] = get_args(PromptStyle)
Scoring = Literal["native", "lmms_eval"]
"""How answers are read: videoqa's parser or lmms-eval's extraction rules."""
SCORINGS: tuple[str, ...] = get_args(Scoring)
_ALIASES = {"lmms-eval": "lmms_eval"}
"""Spellings accepted for a prompt style or scoring mode (the eval CLI's before v2) -> the one spelling."""

OPTIONS: dict[str, str] = {
    "durations": "--durations FILE: video durations in seconds (CSV or JSON); default: probe the videos.",
    "clip_ground_truth": "--clip-ground-truth: clip ground-truth spans to [0, duration] before scoring.",
    "subtitles_dir": "--subtitles-dir DIR: the benchmark's subtitle files in their official layout (the "
    "'with subtitles' setting): a video's cues go into its prompts in the model family's timed-text layout.",
}
"""Optional :class:`~videoqa.eval.EvalConfig` inputs a benchmark may take (``Benchmark.options``)."""


def canonical_style(value: object) -> object:
    """``"lmms-eval"`` -> ``"lmms_eval"`` (the accepted old spelling); anything else unchanged."""
    return _ALIASES.get(value, value) if isinstance(value, str) else value


class EvalItem(Protocol):
    """What the evaluation needs of every item a loader returns."""

    @property
    def item_id(self) -> str: ...  # unique in the file; the question_id sent to the batch job

    @property
    def video_id(self) -> str: ...  # the video is <videos>/<video_id>.<suffix>


@dataclass(frozen=True)
class Loaded:
    """What a loader returns: the items in file order and where they came from."""

    items: Sequence[Any]
    annotation_format: str
    comparable: bool = True
    """False for re-annotated variants whose numbers must not be compared with published ones."""
    set_aside: Sequence[Any] = ()
    """Annotations not kept (:class:`videoqa.eval._common.SetAside`: file, line, why); reported in the
    summary, scored nowhere."""


def _no_spans(row: Mapping[str, Any]) -> list[tuple[float, float]]:
    return []


def _answer_text(row: Mapping[str, Any]) -> str:
    return str(row.get("answer", ""))


@dataclass(frozen=True)
class PageSpec:
    """What the results page (``videoqa report EVAL_OUTPUT``) reads from the benchmark's per-item rows."""

    id_column: str = "question_id"
    """The row column holding the item id (the batch job's ``question_id``)."""
    score_column: str = "correct"
    """The per-item score (a bool or a number in [0, 1]): the page ranks the worst items by it and shows
    its mean, in percent, per category and per duration bucket."""
    score_label: str = "accuracy"
    """What that mean is called (``accuracy``, ``mIoU``...)."""
    text_column: str = "question"
    """The row column holding what was asked (the question, the query sentence)."""
    breakdowns: tuple[str, ...] = ()
    """Row columns whose values are categories (a list value counts under each of its entries)."""
    truth_spans: Callable[[Mapping[str, Any]], list[tuple[float, float]]] = _no_spans
    """Ground-truth spans of one row, seconds from the video's first frame (drawn on its timeline)."""
    expected: Callable[[Mapping[str, Any]], str] = _answer_text
    """The expected answer of one row, as text."""


@dataclass(frozen=True)
class Benchmark:
    """The one declaration of a benchmark; ``videoqa eval <name>`` and ``pipelines/eval_<slug>.py``."""

    name: str
    """Subcommand and ``EvalConfig.benchmark`` value, e.g. ``"charades-sta"``."""
    title: str
    """Heading of the results table."""
    summary: str
    """One line for ``videoqa eval --help``: what is measured."""
    load: Callable[[EvalConfig], Loaded]
    """Reads ``config.annotations`` (and the benchmark's options) into :class:`Loaded`."""
    question: Callable[[Any, PromptStyle], Question]
    """The :class:`~videoqa.Question` of one item in a prompt style."""
    score: Callable[[Sequence[Any], Mapping[str, Prediction], Mapping[str, str], EvalConfig], tuple]
    """``(rows, scores)``: one row per item and the summary scores (``all``, ``answerable``, counts)."""
    columns: tuple[str, ...]
    """Metric keys of ``scores["all"]`` shown in the results table, in order."""
    count_key: str
    """Key of ``scores["all"]`` holding the number of items."""
    table_columns: Callable[[Mapping[str, Any]], tuple[str, ...]] | None = None
    """The results table's columns for one summary (e.g. with categories the file added); None:
    :attr:`columns`."""
    nouns: tuple[str, str] = ("question", "questions")
    notes: Callable[[Mapping[str, Any]], list[str]] = lambda summary: []
    """Benchmark-specific lines under the results table."""
    prompt_styles: tuple[str, ...] = PROMPT_STYLES
    """Styles it has; the first is the default."""
    lmms_eval_max_new_tokens: int | None = None
    """lmms-eval's ``max_new_tokens`` of the task (greedy decoding), used with the lmms_eval prompt."""
    options: tuple[str, ...] = ()
    """Which of :data:`OPTIONS` it takes; any other given is refused."""
    subtitles_for: Callable[[Any, str], Any] | None = None
    """With the ``subtitles_dir`` option: ``(item, folder) ->`` the subtitle file of the item's video
    (a path :func:`videoqa.text.load_cues` reads), its cues (a :class:`videoqa.text.Transcript`, for a
    format it does not read), or None (that video has none)."""
    published: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    """Published numbers in percent, ``{model: {column: value}}``."""
    published_sources: Mapping[str, str] = field(default_factory=dict)
    default_source: str = ""
    """Where the published rows come from unless ``published_sources`` names another source."""
    official_outputs: Callable[[Sequence[dict[str, Any]], Mapping[str, Any]], dict[str, str]] | None = None
    """``{file name: text}`` of the files the benchmark's official scorer or leaderboard takes (e.g.
    QVHighlights' ``submission.jsonl``), from the per-item rows; written next to the results."""
    page: PageSpec = field(default_factory=PageSpec)
    """How the results page ranks, groups and draws the per-item rows."""
    annotation_help: str = "Annotation file of the benchmark."
    pipeline_example: tuple[str, ...] = ()
    """Lines of flags (data only) of the ``ray job submit`` example in ``pipelines/eval_<slug>.py``."""

    @property
    def slug(self) -> str:
        """``"charades-sta"`` -> ``"charades_sta"`` (the pipeline file name)."""
        return self.name.replace("-", "_")

    def count_text(self, count: int) -> str:
        """``"1 query"``, ``"3 queries"``..."""
        return f"{count} {self.nouns[count != 1]}"


class UnknownBenchmarkError(VideoQAError, ValueError):
    """A benchmark name no declaration has."""


_REGISTRY: dict[str, Benchmark] = {}
_BUILTIN: set[str] = set()
_DISCOVERED = False


def _discover() -> None:
    global _DISCOVERED
    if _DISCOVERED:
        return
    from videoqa.eval import benchmarks

    for info in sorted(pkgutil.iter_modules(benchmarks.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            module = importlib.import_module(f"{benchmarks.__name__}.{info.name}")
            declared = getattr(module, "BENCHMARK", None)
            if isinstance(declared, Benchmark):
                _REGISTRY.setdefault(declared.name, declared)
                _BUILTIN.add(declared.name)
    _DISCOVERED = True


def register(benchmark: Benchmark, *, replace: bool = False) -> Benchmark:
    """Add ``benchmark`` to the registry (a plugin, a test); a second one of the same name is refused."""
    _discover()
    if benchmark.name in _REGISTRY and not replace:
        raise ValueError(f"a benchmark named {benchmark.name!r} is already declared")
    if not benchmark.prompt_styles or set(benchmark.prompt_styles) - set(PROMPT_STYLES):
        raise ValueError(f"{benchmark.name}: prompt_styles must be among {PROMPT_STYLES}")
    unknown = set(benchmark.options) - set(OPTIONS)
    if unknown:
        raise ValueError(f"{benchmark.name}: unknown options {sorted(unknown)}; known: {sorted(OPTIONS)}")
    if ("subtitles_dir" in benchmark.options) != (benchmark.subtitles_for is not None):
        raise ValueError(f"{benchmark.name}: the subtitles_dir option and subtitles_for come together")
    _REGISTRY[benchmark.name] = benchmark
    return benchmark


def unregister(name: str) -> None:
    """Remove a benchmark added with :func:`register` (tests)."""
    _REGISTRY.pop(name, None)


def all_benchmarks() -> list[Benchmark]:
    """Every declared benchmark, built-in ones first (alphabetical), then registered ones."""
    _discover()
    return list(_REGISTRY.values())


def builtin_benchmarks() -> list[Benchmark]:
    """The benchmarks declared in :mod:`videoqa.eval.benchmarks` (each has a ``pipelines/`` file)."""
    return [b for b in all_benchmarks() if b.name in _BUILTIN]


def benchmark_names() -> list[str]:
    return [b.name for b in all_benchmarks()]


def get_benchmark(name: str) -> Benchmark:
    """The declaration named ``name``; an unknown name raises an error listing the known ones."""
    _discover()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownBenchmarkError(
            f"unknown benchmark {name!r}; declared benchmarks: {', '.join(_REGISTRY)} "
            "(add one as a module of videoqa/eval/benchmarks/, see the README's 'Adding a benchmark')"
        ) from None

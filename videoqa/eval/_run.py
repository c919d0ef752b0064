"""Run an evaluation through the batch job: load, find videos, ask, score, report.

:func:`run_eval` does, in order:

1. load the annotations with the benchmark's declaration (:mod:`videoqa.eval.benchmarks`) and keep
   the first ``limit`` items;
2. look for ``<videos>/<id><video_suffix>`` of every item; missing ones are listed, never dropped;
3. write the batch job's inputs under ``<output>/job_inputs/`` (a manifest of the videos found and a
   questions file with the benchmark prompts, one question per item, selected by its video's URL);
4. run :func:`videoqa.batch.run_job` with output ``<output>/batch/`` (``resume`` passes through);
5. read its ``answers``/``spans``/``windows``/``failures`` tables back, keeping only the rows of this
   config and these questions, and score every item (:mod:`._score`);
6. write ``items.parquet``, ``summary.json`` and ``results.md`` into ``<output>`` (:mod:`._report`).
"""

from __future__ import annotations

import json
import logging
import posixpath
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from videoqa.analysis import Question
from videoqa.core.settings import Settings, model_config_hash, starting_settings
from videoqa.eval._declare import (
    OPTIONS,
    Benchmark,
    PromptStyle,
    Scoring,
    canonical_style,
    get_benchmark,
)
from videoqa.eval._videos import find_videos, map_videos, read_video_map
from videoqa.model.families import DEFAULT_MODEL

__all__ = ["EVAL_SETTINGS", "EvalConfig", "EvalResult", "eval_settings", "find_videos", "run_eval"]

log = logging.getLogger(__name__)

_EVAL_SETS = frozenset({"videos", "questions", "output", "model", "settings", "sampling", "subtitle_map"})
"""JobConfig fields the evaluation sets itself (``EvalConfig.job`` holds the others)."""

EVAL_SETTINGS = Settings(strategy="single", min_pixels=16 * 28 * 28, total_pixels=24576 * 28 * 28)
"""Settings of the evaluations: the Qwen2.5-VL report's caps (at most 768 frames and 24,576 visual
tokens per video) at 2 fps, one pass over the whole video (as lmms-eval). The per-frame floor is the
Qwen cookbook's 16 x 28 x 28 pixels so that the token cap can bind on hour-long videos."""


def eval_settings(benchmark: str, prompt: str, **overrides: Any) -> Settings:
    """:data:`EVAL_SETTINGS` with the generation settings of ``benchmark`` and ``prompt``.

    With lmms-eval prompts, ``max_new_tokens`` is lmms-eval's for the task (the declaration's
    ``lmms_eval_max_new_tokens``: 50 for Charades-STA, 16 for LVBench) and ``prompt_style`` is
    ``"lmms_eval"``; native prompts keep the :class:`Settings` defaults.
    """
    declared = get_benchmark(benchmark)
    generation: dict[str, Any] = {}
    if canonical_style(prompt) == "lmms_eval":
        generation = {"prompt_style": "lmms_eval"}
        if declared.lmms_eval_max_new_tokens is not None:
            generation["max_new_tokens"] = declared.lmms_eval_max_new_tokens
    return Settings(**{**EVAL_SETTINGS.model_dump(), **generation, **overrides})


def start_settings(benchmark: Benchmark, prompt: str, model: str) -> Settings:
    """What an evaluation of ``model`` starts from: :func:`eval_settings` with the fields the model is
    declared with (``Settings.for_model``: ``builtin:tiny-grounder``'s budgets...)."""
    return starting_settings(model, defaults=eval_settings(benchmark, prompt))


class EvalConfig(BaseModel):
    """One evaluation run; ``videoqa eval`` and the ``pipelines/eval_*.py`` entry points build it."""

    model_config = ConfigDict(extra="forbid")

    benchmark: str = Field(
        description="Which declared benchmark the annotations belong to (videoqa eval --help)."
    )
    annotations: str = Field(
        description="Annotation file (charades_sta_test.txt / video_info.meta.jsonl ...)."
    )
    videos: str | None = Field(
        default=None,
        description="Folder or bucket prefix holding <id>.mp4 (any subfolder; .mp4/.mkv/.webm/.mov/.avi "
        "in any case) for every video; or give video_map.",
    )
    video_map: str | None = Field(
        default=None,
        description="CSV (id,path) or JSON {id: path} naming each video's file (relative to the map's "
        "folder), for other layouts such as video2dataset's shards.",
    )
    output: str = Field(description="Folder or bucket prefix for the results and the batch job's tables.")
    model: str = Field(default=DEFAULT_MODEL, description="Model string, as for the batch job.")
    durations: str | None = Field(default=None, description=OPTIONS["durations"])
    prompt: PromptStyle | None = Field(
        default=None,
        description="lmms_eval: lmms-eval's prompts (comparable numbers); native: the benchmark's / "
        "videoqa's own ('lmms-eval' is accepted for lmms_eval). None: the benchmark's first style "
        "(lmms_eval where lmms-eval has the task).",
    )
    scoring: Scoring = Field(
        default="native",
        description="How answers are read: videoqa's parser (native) or lmms-eval's extraction rules "
        "(lmms_eval: per-item results as lmms-eval's, for like-for-like comparison with published numbers).",
    )
    clip_ground_truth: bool = Field(default=False, description=OPTIONS["clip_ground_truth"])
    subtitles_dir: str | None = Field(default=None, description=OPTIONS["subtitles_dir"])
    limit: int | None = Field(default=None, ge=1, description="Evaluate only the first N items of the file.")
    video_suffix: str | None = Field(
        default=None,
        description="Only this file ending (case-insensitive), e.g. '.mp4'; None: any of .mp4 .mkv "
        ".webm .mov .avi.",
    )
    settings: Settings | None = Field(
        default=None,
        description="Every answer-changing setting of the job (videoqa.Settings); None: "
        "eval_settings(benchmark, prompt).",
    )
    job: dict[str, Any] = Field(
        default_factory=dict,
        description="Further videoqa.batch.JobConfig fields (address, replicas, gpus_per_replica, "
        "decode_workers, windows_per_call, resume, storage_options, local_num_cpus, ...).",
    )

    @field_validator("prompt", "scoring", mode="before")
    @classmethod
    def _one_spelling(cls, value: Any) -> Any:
        return canonical_style(value)

    @field_validator("benchmark")
    @classmethod
    def _declared(cls, value: str) -> str:
        return get_benchmark(value).name

    @model_validator(mode="after")
    def _fits_the_benchmark(self) -> EvalConfig:
        declared = get_benchmark(self.benchmark)
        if (self.videos is None) == (self.video_map is None):
            raise ValueError("give videos (a folder) or video_map (a file), exactly one of them")
        if self.prompt is None:
            self.prompt = declared.prompt_styles[0]  # type: ignore[assignment]
        if self.prompt not in declared.prompt_styles:
            raise ValueError(
                f"{self.benchmark} has the prompt styles {declared.prompt_styles}, not {self.prompt!r}"
            )
        defaults = {name: type(self).model_fields[name].default for name in OPTIONS}
        given = sorted(n for n in OPTIONS if getattr(self, n) != defaults[n] and n not in declared.options)
        if given:
            takes = ", ".join(declared.options) or "none"
            raise ValueError(f"{given} do not apply to {self.benchmark} (it takes: {takes})")
        return self

    @field_validator("job")
    @classmethod
    def _job_is_jobconfig_fields(cls, value: dict[str, Any]) -> dict[str, Any]:
        """Check ``job`` against JobConfig now, not after the annotations are loaded and videos found."""
        from pydantic import ValidationError

        from videoqa.batch import JobConfig

        own = sorted(set(value) & _EVAL_SETS)
        if own:
            raise ValueError(f"job must not set {own}: the evaluation sets them (use EvalConfig's fields)")
        unknown = sorted(set(value) - set(JobConfig.model_fields))
        if unknown:
            valid = sorted(set(JobConfig.model_fields) - _EVAL_SETS)
            raise ValueError(f"job has unknown JobConfig fields {unknown}; valid ones: {valid}")
        try:
            JobConfig(videos="-", questions="-", output="-", **value)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']} (got {e['input']!r})" for e in exc.errors()
            )
            raise ValueError(f"job holds invalid JobConfig values: {problems}") from None
        return value

    @property
    def declaration(self) -> Benchmark:
        return get_benchmark(self.benchmark)

    def resolved_settings(self) -> Settings:
        if self.settings is not None:
            return self.settings
        return start_settings(self.benchmark, self.prompt, self.model)


@dataclass(frozen=True)
class EvalResult:
    summary: dict[str, Any]
    paths: dict[str, str]
    table: str
    """The Markdown results table (also written to ``results.md``)."""


@dataclass(frozen=True)
class _Prepared:
    items: list[Any]
    questions: dict[str, Question]
    urls: dict[str, str]
    """video id -> URL, for the videos found."""
    missing_videos: list[str]
    comparable: bool
    annotation_format: str
    set_aside: list[str]
    """Annotations the loader did not keep, each ``"file:line: record: why"``."""
    subtitles: dict[str, Any]
    """video id -> its subtitle file or cues (``--subtitles-dir``), for the videos found that have one."""


# ------------------------------------------------------------------------------------------ prepare


def prepare(config: EvalConfig) -> _Prepared:
    """Load the items, apply ``limit``, find the videos and build one :class:`Question` per item."""
    declared = config.declaration
    loaded = declared.load(config)
    items = list(loaded.items)
    if config.limit is not None:
        items = items[: config.limit]
    video_ids = list(dict.fromkeys(item.video_id for item in items))
    if config.video_map:
        urls, missing = map_videos(read_video_map(config.video_map), video_ids)
    else:
        urls, missing = find_videos(
            config.videos,
            video_ids,
            suffix=config.video_suffix,
            storage_options=config.job.get("storage_options"),
        )
    questions = {q.question_id: q for q in (declared.question(item, config.prompt) for item in items)}
    set_aside = [str(entry) for entry in loaded.set_aside]
    from videoqa.eval._subtitles import find_subtitles

    subtitles = find_subtitles(declared, config.subtitles_dir, items, urls) if config.subtitles_dir else {}
    return _Prepared(
        items, questions, urls, missing, loaded.comparable, loaded.annotation_format, set_aside, subtitles
    )


# ------------------------------------------------------------------------------------------ batch job


def _write_text(url: str, text: str, storage_options: dict[str, Any] | None) -> None:
    import fsspec

    fs, path = fsspec.core.url_to_fs(url, **(storage_options or {}))
    fs.makedirs(posixpath.dirname(path), exist_ok=True)
    with fs.open(path, "w", encoding="utf-8") as f:
        f.write(text)


def _write_job_inputs(config: EvalConfig, prep: _Prepared) -> tuple[str, str]:
    """The manifest of the videos found and the questions file, under ``<output>/job_inputs/``."""
    folder = posixpath.join(config.output.rstrip("/"), "job_inputs")
    opts = config.job.get("storage_options")
    manifest = posixpath.join(folder, "videos.txt")
    questions = posixpath.join(folder, "questions.jsonl")
    _write_text(manifest, "".join(f"{url}\n" for url in prep.urls.values()), opts)
    lines = []
    for item in prep.items:
        if item.video_id in prep.urls:
            row = prep.questions[item.item_id].model_dump(exclude_none=True)
            lines.append(json.dumps({**row, "videos": prep.urls[item.video_id]}, ensure_ascii=False) + "\n")
    _write_text(questions, "".join(lines), opts)
    return manifest, questions


def _run_batch(config: EvalConfig, prep: _Prepared, progress: bool | None) -> Any:
    """Run the batch job over the videos found; returns the job config (its hash selects our rows)."""
    from videoqa.batch import JobConfig, run_job
    from videoqa.eval._subtitles import write_subtitle_map

    manifest, questions = _write_job_inputs(config, prep)
    subtitles = (
        write_subtitle_map(config, prep.subtitles, prep.urls, write=_write_text)
        if config.subtitles_dir
        else {}
    )
    job = JobConfig(
        **subtitles,
        videos=manifest,
        questions=questions,
        output=posixpath.join(config.output.rstrip("/"), "batch"),
        model=config.model,
        settings=config.resolved_settings(),
        **config.job,
    )
    summary = run_job(job, progress=progress)
    log.info("batch job finished: %s", summary)
    return job


# ------------------------------------------------------------------------------------------ results


_COLUMNS = {
    "answers": ["raw_text", "choice", "parse_error", "outcome", "video_duration_seconds",
                "video_start_seconds", "strategy_used", "num_windows", "visual_tokens"],
    "spans": ["span_index", "start_seconds", "end_seconds"],
    "windows": ["step_index", "window_index", "num_frames", "sampled_fps", "second_per_grid"],
    "failures": ["error_type", "error"],
}  # fmt: skip
"""Columns read back from each table of the batch job (not the heavy pts lists or analysis JSON)."""


def _predictions(job: Any, prep: _Prepared) -> dict[str, Any]:
    """question_id -> :class:`Prediction` from the job's tables (rows of this config and question text)."""
    from videoqa.batch import read_tables
    from videoqa.eval._score import Prediction
    from videoqa.records import question_hash

    opts = job.storage_options
    wanted = {qid: question_hash(q) for qid, q in prep.questions.items()}

    key = ["item_key", "question_id", "question_hash", "config_hash"]
    tables = read_tables(
        job.output, columns={t: [*key, *c] for t, c in _COLUMNS.items()}, storage_options=opts
    )

    def rows(table: str) -> list[dict[str, Any]]:
        return [
            r
            for r in tables[table].to_pylist()
            if r["config_hash"] == job.config_hash and wanted.get(r["question_id"]) == r["question_hash"]
        ]

    spans: dict[str, list[tuple[int, float, float]]] = {}
    for r in rows("spans"):
        spans.setdefault(r["item_key"], []).append((r["span_index"], r["start_seconds"], r["end_seconds"]))
    windows: dict[str, list[dict[str, Any]]] = {}
    for r in rows("windows"):
        windows.setdefault(r["item_key"], []).append(r)
    preds: dict[str, Prediction] = {}
    for r in rows("failures"):
        preds[r["question_id"]] = Prediction(status="failed", error_type=r["error_type"], error=r["error"])
    for r in rows("answers"):
        start = r["video_start_seconds"]
        ranked = tuple((s - start, e - start) for _, s, e in sorted(spans.get(r["item_key"], [])))
        ws = sorted(windows.get(r["item_key"], []), key=lambda w: (w["step_index"], w["window_index"]))
        preds[r["question_id"]] = Prediction(
            status="ok",
            raw_text=r["raw_text"],
            span=ranked[0] if ranked else None,
            spans=ranked,
            letter=r["choice"],
            parse_error=r["parse_error"],
            outcome=r["outcome"],
            video_duration_seconds=r["video_duration_seconds"],
            sampling={
                "strategy_used": r["strategy_used"],
                "num_windows": r["num_windows"],
                "num_frames": sum(w["num_frames"] for w in ws),
                "sampled_fps": [w["sampled_fps"] for w in ws],
                "second_per_grid": [w["second_per_grid"] for w in ws],
                "visual_tokens": r["visual_tokens"],
            },
        )
    return preds


def _complete(prep: _Prepared, preds: dict[str, Any]) -> dict[str, Any]:
    """A prediction for every item: missing videos, and items the job left no row for, are explicit."""
    from videoqa.eval._score import Prediction

    out = {}
    for item in prep.items:
        qid = item.item_id
        if item.video_id not in prep.urls:
            out[qid] = Prediction(
                status="missing_video", error=f"no {item.video_id} video in the videos folder"
            )
        elif qid in preds:
            out[qid] = preds[qid]
        else:
            out[qid] = Prediction(
                status="failed", error_type="NoResult", error="the batch job wrote no answers or failures row"
            )
    return out


def _sampling_note(settings: Settings) -> str:
    return (
        f"sampling {settings.fps:g} fps, at most {settings.max_frames} frames and "
        f"{settings.total_pixels / (28 * 28):.0f} visual tokens per window, "
        f"max_new_tokens {settings.max_new_tokens}, "
        f"{'sampled' if settings.do_sample else 'greedy'}, "
        f"repetition_penalty {settings.repetition_penalty:g}"
    )


def _summary(config: EvalConfig, prep: _Prepared, scores: dict[str, Any]) -> dict[str, Any]:
    missing = set(prep.missing_videos)
    settings = config.resolved_settings()
    return {
        "benchmark": config.benchmark,
        "title": config.declaration.title,
        "model": config.model,
        "prompt_style": config.prompt,
        "strategy": settings.strategy,
        "settings": settings.model_dump(),
        "config_hash": model_config_hash(config.model, settings),
        "sampling_note": _sampling_note(settings),
        "annotations": config.annotations,
        "annotation_format": prep.annotation_format,
        "comparable": prep.comparable,
        "videos": config.videos,
        "limit": config.limit,
        "clip_ground_truth_to_duration": config.clip_ground_truth,
        "subtitles_dir": config.subtitles_dir,
        "num_videos_with_subtitles": len(prep.subtitles),
        "num_items": len(prep.items),
        "num_set_aside": len(prep.set_aside),
        "set_aside": prep.set_aside,
        "num_videos": len(prep.urls) + len(missing),
        "num_missing_videos": len(missing),
        "num_items_missing_video": sum(item.video_id in missing for item in prep.items),
        "missing_videos": sorted(missing),
        **scores,
    }


def run_eval(config: EvalConfig, *, progress: bool | None = None) -> EvalResult:
    """Evaluate ``config.model`` on the benchmark; see the module docstring for the steps.

    ``progress``: a bar of the items answered of those with a video, on stderr (``None``: only when
    it is a terminal; ``False``: never, ``videoqa eval --quiet``)."""
    from videoqa.eval._prompts import prompt_text
    from videoqa.eval._report import markdown_table, write_report

    prep = prepare(config)
    if prep.missing_videos:
        log.warning(
            "%d of %d videos are missing under %s (first: %s); their items score 0 in 'all'",
            len(prep.missing_videos), len(prep.missing_videos) + len(prep.urls), config.videos,
            ", ".join(prep.missing_videos[:5]),
        )  # fmt: skip
    preds = _predictions(_run_batch(config, prep, progress), prep) if prep.urls else {}
    preds = _complete(prep, preds)
    prompts = {qid: prompt_text(q) for qid, q in prep.questions.items()}
    rows, scores = config.declaration.score(prep.items, preds, prompts, config)
    summary = _summary(config, prep, scores)
    paths = write_report(config.output, rows, summary, storage_options=config.job.get("storage_options"))
    return EvalResult(summary=summary, paths=paths, table=markdown_table(summary))

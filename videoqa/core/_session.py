"""``Session`` keeps a model loaded and answers questions about videos; ``analyze`` is its shortcut.

Per call the session probes the video, plans the first pass (see :mod:`videoqa.core._strategies`),
gets each window's visual features (from the on-disk cache of :mod:`videoqa.core._cache`, or by
decoding only the windows that miss and encoding them), batches generation across
questions, parses the answers (:mod:`videoqa.core.parsing`) and maps every time back to the
video's absolute timeline: the model's seconds are relative to the first window of its
request, so ``absolute = relative + window.start_seconds``; spans are clamped to the video and
reversed spans swapped. Every pass is kept in ``Analysis.steps``.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator, Sequence
from typing import Any, get_args

from videoqa.analysis import Analysis, Question, Step, Task, WindowUsage
from videoqa.core._cache import VisualCache, video_fingerprint, window_fingerprint
from videoqa.core._passes import Encoded, StageTimer, run_questions, sampling_profile
from videoqa.core._progress import Progress
from videoqa.core._strategies import first_pass_plan
from videoqa.core.settings import Settings, Strategy, starting_settings
from videoqa.errors import DecodeError, ModelError
from videoqa.model._protocol import Generation, GenerationRequest, VideoLanguageModel
from videoqa.model.families import DEFAULT_MODEL, SamplingProfile, family
from videoqa.text._types import Transcript
from videoqa.video._types import Clip, SamplingPlan, VideoInfo

__all__ = ["DEFAULT_MODEL", "Session", "analyze"]

_TASKS: tuple[str, ...] = get_args(Task)


class Session:
    """A loaded model plus its :class:`~videoqa.Settings`; ask it many questions about many videos.

    Args:
        model: a :class:`~videoqa.model.VideoLanguageModel`, or a model string for
            :func:`videoqa.load_model` (hub id, local path, ``"builtin:tiny-qwen2.5-vl"``,
            ``"builtin:scripted"``...), loaded once here.
        settings: every setting that changes an answer (sampling budgets, strategy, generation,
            prompt style, decoder); default ``Settings.for_model(model)`` (``Settings()`` except for a
            built-in model trained with other budgets).
        cache_dir: directory of the on-disk visual cache (see :mod:`videoqa.core._cache`); None
            disables it, so every call decodes and encodes again.
        num_threads: decoder threads. storage_options: fsspec options for remote videos.
        model_options: keyword arguments for :func:`videoqa.load_model` when ``model`` is a string
            (e.g. ``requests_per_batch``, the forward batch size of ``generate``).
        progress: progress bars on stderr (pass, windows decoded+encoded, search rounds, elapsed
            and expected time); None (default): only when stderr is a terminal.
        **overrides: :class:`~videoqa.Settings` fields as keywords, e.g. ``Session(m, fps=1.0)``:
            shorthand for ``settings=Settings(fps=1.0)`` (applied over ``settings`` when both are given).
    """

    def __init__(
        self,
        model: str | VideoLanguageModel = DEFAULT_MODEL,
        settings: Settings | None = None,
        *,
        cache_dir: str | os.PathLike[str] | None = None,
        num_threads: int = 2,
        storage_options: dict | None = None,
        model_options: dict | None = None,
        progress: bool | None = None,
        **overrides: Any,
    ):
        if settings is not None and not isinstance(settings, Settings):
            raise TypeError(f"settings must be a videoqa.Settings, got {type(settings).__name__}")
        model_id = model if isinstance(model, str) else getattr(model, "model_id", "")
        settings = starting_settings(model_id, given=settings, flags=overrides)
        self.settings: Settings = settings
        if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1:
            raise ValueError(f"num_threads must be an integer >= 1, got {num_threads!r}")
        self.num_threads = num_threads
        self.storage_options = storage_options
        self.cache = VisualCache(cache_dir) if cache_dir is not None else None
        self.progress = Progress(progress)
        if isinstance(model, str):
            from videoqa.model import load_model

            model = load_model(model, **(model_options or {}))
        elif model_options:
            raise ValueError("model_options only apply when model is a model string, not a loaded model")
        if not isinstance(model, VideoLanguageModel):
            raise TypeError(
                f"model must be a model string or a VideoLanguageModel, got {type(model).__name__}"
            )
        self.model: VideoLanguageModel = model

    @property
    def model_id(self) -> str:
        return self.model.model_id

    @property
    def sampling(self) -> SamplingProfile:
        """The model family's sampling needs (``model.sampling``; Qwen2.5-VL's when it states none)."""
        return sampling_profile(self.model)

    def __repr__(self) -> str:
        cache = self.cache.directory if self.cache else None
        return f"Session(model={self.model.model_id!r}, settings={self.settings!r}, cache_dir={cache!r})"

    # ------------------------------------------------------------------ public API

    def plan(self, info: VideoInfo, *, strategy: Strategy | None = None) -> SamplingPlan:
        """The first-pass plan: one window (``single``) or the coarse windows (``coarse_to_fine``).

        ``strategy`` overrides ``settings.strategy`` (as in :meth:`analyze`).
        """
        return first_pass_plan(info, self._with_strategy(strategy), self.sampling).plan

    def _with_strategy(self, strategy: Strategy | None) -> Settings:
        if strategy is None or strategy == self.settings.strategy:
            return self.settings
        return Settings(**{**self.settings.model_dump(), "strategy": strategy})

    def analyze(
        self,
        video: str | os.PathLike[str],
        question: str | Question,
        *,
        task: Task = "qa",
        options: Sequence[str] | None = None,
        strategy: Strategy | None = None,
        question_id: str | None = None,
        prompt: str | None = None,
        subtitles: str | os.PathLike[str] | None = "auto",
        subtitles_language: str | None = None,
    ) -> Analysis:
        """Answer one question; a :class:`Question` object brings its own task, options and id.

        ``strategy`` overrides ``settings.strategy`` for this call; the Analysis records the
        settings it actually ran with. ``subtitles``: see :meth:`analyze_many`.
        """
        if not isinstance(question, Question):
            question = make_question(
                question, task=task, options=options, question_id=question_id, prompt=prompt
            )
        return self.analyze_many(
            video, [question], strategy=strategy, subtitles=subtitles, subtitles_language=subtitles_language
        )[0]

    def analyze_many(
        self,
        video: str | os.PathLike[str],
        questions: Sequence[Question],
        *,
        strategy: Strategy | None = None,
        info: VideoInfo | None = None,
        clips: Sequence[Clip] | None = None,
        subtitles: str | os.PathLike[str] | None = "auto",
        subtitles_language: str | None = None,
        transcript: Transcript | None = None,
    ) -> list[Analysis]:
        """Answer several questions about one video; each window is encoded once for all of them.

        Args:
            info: the video's :class:`VideoInfo` if already probed.
            clips: pre-decoded clips of ``self.plan(info, strategy=strategy)`` (the Ray job decodes in
                CPU tasks); windows missing from ``clips`` are decoded here.
            subtitles: timed text for the prompts (:func:`videoqa.text.load_cues`): ``"auto"`` (a
                sidecar file next to the video or a subtitle stream in it, when present), ``"sidecar"``,
                ``"stream"``, a subtitle file path, or None.
            subtitles_language: the language to pick (``"en"``, ``"fra"``); None: the first found.
            transcript: timed text already loaded (then ``subtitles`` is not read).
        Timings in each Analysis are those of the whole call (shared by its questions).
        """
        from videoqa import video as media

        questions = [q if isinstance(q, Question) else Question.model_validate(q) for q in questions]
        for q in questions:
            check_question(q)
        source = os.fspath(video)
        timer = StageTimer()
        started = time.perf_counter()
        runner = self if strategy is None else _StrategyOverride(self, self._with_strategy(strategy))
        if info is None:
            with timer("probe"):
                info = media.probe(
                    source, storage_options=self.storage_options, stream_index=self.settings.video_stream
                )
        from videoqa.text._load import check_subtitles, load_cues

        subtitles = check_subtitles(subtitles)
        if transcript is None and subtitles is not None and self.settings.subtitles_max_tokens > 0:
            with timer("probe"):  # the container's streams and the files next to it
                transcript = load_cues(
                    source,
                    subtitles=subtitles,
                    language=subtitles_language,
                    info=info,
                    storage_options=self.storage_options,
                )
        return run_questions(runner, source, info, questions, clips, timer, started, transcript)

    # ------------------------------------------------------------------ internals used by the runner

    def encode_plan(
        self, source: str, plan: SamplingPlan, timer: StageTimer, clips: Sequence[Clip] | None = None
    ) -> list[Encoded]:
        """Features of every window of ``plan``: cache hits first, then decode + encode the misses only."""
        results, keys = self._cached(source, plan, timer)
        missing = [i for i, r in enumerate(results) if r is None]
        if not missing:
            return results  # type: ignore[return-value]
        position = {w.index: i for i, w in enumerate(plan.windows)}
        given = _match_clips(plan, clips) if clips is not None else {}
        pending = [given[i] for i in missing if i in given]
        decoded = self._decode(source, plan, [plan.windows[i].index for i in missing if i not in given])
        bar = self.progress.bar(len(missing))
        try:
            while True:
                if pending:
                    clip = pending.pop(0)
                else:
                    with timer("decode"):
                        clip = next(decoded, None)
                    if clip is None:
                        break
                i = position[clip.window.index]
                with timer("encode"):
                    features = self.model.encode(clip)
                results[i] = Encoded(features, cached=False)
                if self.cache is not None:
                    with timer("cache"):
                        self.cache.put(keys[i], features)  # type: ignore[arg-type]
                bar.update(1)
        finally:
            bar.close()
        lost = [plan.windows[i].index for i, r in enumerate(results) if r is None]
        if lost:
            raise DecodeError(source, f"the decoder returned no clip for windows {lost} of the plan")
        return results  # type: ignore[return-value]

    def _cached(self, source: str, plan: SamplingPlan, timer: StageTimer) -> tuple[list, list]:
        """(features or None, cache key or None) per window of ``plan``."""
        results: list[Encoded | None] = [None] * len(plan.windows)
        keys: list[str | None] = [None] * len(plan.windows)
        if self.cache is None:
            return results, keys
        with timer("cache"):
            video_fp = video_fingerprint(source, storage_options=self.storage_options)
            model_fp = self.model.fingerprint()
            for i, window in enumerate(plan.windows):
                keys[i] = self.cache.key(
                    video_fp, window, model_fp, decoder=_decoder_tag(self.settings, plan)
                )
                hit = self.cache.get(keys[i], window)
                results[i] = Encoded(hit, cached=True) if hit is not None else None
        return results, keys

    def _decode(self, source: str, plan: SamplingPlan, indices: list[int]) -> Iterator[Clip]:
        """Stream the clips of windows ``indices`` via :func:`videoqa.decode` (the seam tests spy on)."""
        from videoqa import video as media

        if not indices:
            return iter(())
        return media.decode(
            source,
            plan.subset(indices),
            backend=self.settings.decode_backend,
            num_threads=self.num_threads,
            storage_options=self.storage_options,
        )

    def generate(self, requests: Sequence[GenerationRequest], timer: StageTimer) -> list[Generation]:
        """All ``requests`` in one model call (the model picks its forward batches)."""
        if not requests:
            return []
        settings = self.settings
        system = family(self.sampling.family).system_prompt(settings.prompt_style)
        if system is not None:
            requests = [dataclasses.replace(r, system_prompt=system) for r in requests]
        with timer("generate"):
            generations = self.model.generate(
                list(requests), max_new_tokens=settings.max_new_tokens, options=settings.generation_options()
            )
        if len(generations) != len(requests):
            raise ModelError(
                f"{self.model.model_id} returned {len(generations)} answers for {len(requests)} requests"
            )
        return generations

    def window_usages(self, encoded: Sequence[Encoded]) -> list[WindowUsage]:
        usages = []
        for i, item in enumerate(encoded):
            w = item.features.window
            ids = self.model.temporal.temporal_ids(w)
            usages.append(
                WindowUsage(
                    index=i,
                    start_seconds=w.start_seconds,
                    end_seconds=w.end_seconds,
                    num_frames=len(item.features.pts_seconds),
                    sampled_fps=w.sampled_fps,
                    second_per_grid=w.second_per_grid,
                    height=w.height,
                    width=w.width,
                    visual_tokens=w.visual_tokens,
                    pts_seconds=[float(t) for t in item.features.pts_seconds],
                    temporal_ids=[int(t) for t in ids],
                    cached=item.cached,
                    stale_targets=len(item.features.stale_targets),
                )
            )
        return usages

    def make_step(
        self, name: str, encoded: Sequence[Encoded], generations: Sequence[Generation], spans: Sequence = ()
    ) -> Step:
        return Step(
            name=name,
            windows=self.window_usages(encoded),
            raw_texts=[g.text for g in generations],
            spans=list(spans),
            prompt_tokens=[g.input_tokens for g in generations],
            reused_prompt_tokens=[g.cached_prefix_tokens for g in generations],
        )


class _StrategyOverride:
    """A session seen with another strategy (``analyze(..., strategy=...)``); everything else shared."""

    def __init__(self, session: Session, settings: Settings):
        self._session = session
        self.settings = settings
        self.model_id = session.model_id
        self.sampling = session.sampling
        self.encode_plan = session.encode_plan
        self.progress = session.progress
        self.make_step = session.make_step
        self.generate = session.generate


def _match_clips(plan: SamplingPlan, clips: Sequence[Clip]) -> dict[int, Clip]:
    """Positions in ``plan`` of the given clips; a clip whose window differs from the plan's is an error."""
    by_print = {window_fingerprint(w): i for i, w in enumerate(plan.windows)}
    matched = {}
    for clip in clips:
        i = by_print.get(window_fingerprint(clip.window))
        if i is None:
            raise ValueError(
                f"clip of window {clip.window.index} ({clip.window.start_seconds:.3f}-"
                f"{clip.window.end_seconds:.3f} s) is not a window of the first-pass plan; decode "
                "clips from session.plan(info) (first_pass_plan) with the same settings"
            )
        matched[i] = clip
    return matched


def check_question(question: Question) -> None:
    if question.task == "choice" and not question.options:
        raise ValueError(f"question {question.question_id!r}: task='choice' needs options")


def make_question(
    question: str,
    *,
    task: Task = "qa",
    options: Sequence[str] | None = None,
    question_id: str | None = None,
    prompt: str | None = None,
) -> Question:
    if task not in _TASKS:
        raise ValueError(f"task must be one of {_TASKS}, got {task!r}")
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"question must be a non-empty string, got {question!r}")
    fields: dict[str, Any] = {"question": question, "task": task, "prompt": prompt}
    if isinstance(options, (str, bytes)):
        raise ValueError(f"options must be a list of option texts, not one string: got {options!r}")
    if options is not None:
        fields["options"] = list(options)
    if question_id is not None:
        fields["question_id"] = question_id
    q = Question(**fields)
    check_question(q)
    return q


_MODELS: dict[tuple[str, str], VideoLanguageModel] = {}
"""The model :func:`analyze` loaded last, keyed by (model string, load options); at most one."""


def _shared_model(model: str, model_options: dict | None) -> VideoLanguageModel:
    from videoqa.model import load_model

    key = (model, repr(sorted((model_options or {}).items())))
    if key not in _MODELS:
        _MODELS.clear()  # let the previous model go before loading the next: never two in memory
        _MODELS[key] = load_model(model, **(model_options or {}))
    return _MODELS[key]


def analyze(
    video: str | os.PathLike[str],
    question: str | Question,
    *,
    model: str | VideoLanguageModel = DEFAULT_MODEL,
    task: Task = "qa",
    options: Sequence[str] | None = None,
    strategy: Strategy | None = None,
    question_id: str | None = None,
    prompt: str | None = None,
    subtitles: str | os.PathLike[str] | None = "auto",
    subtitles_language: str | None = None,
    **session_options: Any,
) -> Analysis:
    """Answer one question about one video: a thin shortcut over :class:`Session`.

    ``session_options`` are :class:`Session`'s keyword arguments (``settings=``, ``cache_dir=``, or
    :class:`~videoqa.Settings` fields such as ``fps=1.0``). When ``model`` is a string, the
    loaded model is kept in a module-level slot (one model: the last one asked for, with the same
    ``model_options``), so repeated calls do not reload weights whatever the other options; each
    call builds a light :class:`Session` around it. For many questions, hold a Session yourself.
    ``subtitles`` (default ``"auto"``: a sidecar file or subtitle stream when present) and
    ``subtitles_language``: the timed text given with the frames, see :meth:`Session.analyze_many`.
    """
    if isinstance(model, str):
        model = _shared_model(model, session_options.pop("model_options", None))
    session = Session(model, **session_options)
    return session.analyze(
        video,
        question,
        task=task,
        options=options,
        strategy=strategy,
        question_id=question_id,
        prompt=prompt,
        subtitles=subtitles,
        subtitles_language=subtitles_language,
    )


def _decoder_tag(settings: Settings, plan: SamplingPlan) -> str:
    """The decoder part of a cache key: the backend, and the video stream when not the file's first
    (stream 0 keeps the keys written before streams were chosen, which were all of stream 0)."""
    stream = plan.stream_index or 0
    return settings.decode_backend if stream == 0 else f"{settings.decode_backend}:stream{stream}"

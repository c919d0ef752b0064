"""``Settings``: every setting that changes an answer, validated, with its one default.

One object from the Python API to the Parquet rows: ``Session(model, settings=Settings(...))``
runs with it, ``JobConfig.settings`` and ``EvalConfig.settings`` nest it, :func:`config_hash`
names it (with the model), every :class:`~videoqa.Analysis` records it, the batch rows flatten it
(:meth:`Settings.columns`) and the three CLIs build their flags from its fields
(:func:`videoqa.core._flags.add_settings_flags`).

The sampling and decoder defaults are the media layer's (``videoqa.video._sampling.DEFAULT_*``, the
qwen-vl-utils values, and ``videoqa.video._decode.DEFAULT_BACKEND``); every other default is
defined here and nowhere else.

Generation and a checkpoint's ``generation_config.json``: videoqa decodes greedily
(``do_sample=False``) unless told otherwise, whatever the checkpoint says (the official Qwen2.5-VL
and Qwen2-VL files say ``do_sample: true`` with a temperature of 1e-6 or ``top_k: 1``: greedy in
effect). Of that
file only the token IDs (``eos_token_id`` stops generation, ``pad_token_id`` pads, ``bos_token_id``)
are used; ``repetition_penalty`` is always this model's value (default 1.05, the value the official
Qwen2.5-VL checkpoints ship; Qwen2-VL-7B-Instruct's says 1.0), so the config hash names it;
``temperature``, ``top_p`` and ``top_k`` apply only with ``do_sample=True`` (then None takes the
checkpoint's value) and must be left unset otherwise.
Every other field of the file (``max_length``, ...) is ignored.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from videoqa.model._protocol import GenerationOptions
from videoqa.model.families import builtin_model, hash_family
from videoqa.model.families import family as family_named
from videoqa.video._decode import DEFAULT_BACKEND, Backend
from videoqa.video._sampling import (
    DEFAULT_FPS,
    DEFAULT_MAX_FRAMES,
    DEFAULT_MAX_PIXELS,
    DEFAULT_MIN_FRAMES,
    DEFAULT_MIN_PIXELS,
    DEFAULT_TOTAL_PIXELS,
    check_budgets,
    int_at_least,
    positive_real,
)

__all__ = [
    "DEFAULT_PROMPT_STYLE",
    "PROMPT_STYLES",
    "STRATEGIES",
    "PromptStyle",
    "Settings",
    "Strategy",
    "config_hash",
    "digest",
    "model_config_hash",
    "starting_settings",
]

Strategy = Literal["auto", "single", "coarse_to_fine"]
STRATEGIES: tuple[str, ...] = get_args(Strategy)
PromptStyle = Literal["qwen_cookbook", "lmms_eval"]
PROMPT_STYLES: tuple[str, ...] = get_args(PromptStyle)
DEFAULT_PROMPT_STYLE: PromptStyle = "qwen_cookbook"

DEFAULT_SUBTITLES_MAX_TOKENS = 2048
"""Timed text per prompt: about 25 minutes of brisk speech (150 words a minute, ~0.55 tokens a word
plus the times), ample for a window at the default 2 fps."""

_COLUMN_PREFIX = {"sampling": "sampling_", "search": "sampling_"}
"""Row column of a field: its name, with this prefix for the groups listed (the rows' names since v1)."""


def _field(default: Any, group: str, description: str) -> Any:
    return Field(default=default, description=description, json_schema_extra={"group": group})


class Settings(BaseModel):
    """Every setting that changes an answer; part of the config hash and of every row.

    Example::

        videoqa.Session("Qwen/Qwen2.5-VL-7B-Instruct", settings=videoqa.Settings(fps=1.0, max_frames=256))
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    # sampling budgets of videoqa.plan_sampling, per window
    fps: float = _field(DEFAULT_FPS, "sampling", "Target frames per second of video (single pass).")
    min_frames: int = _field(DEFAULT_MIN_FRAMES, "sampling", "Fewest frames per window.")
    max_frames: int = _field(DEFAULT_MAX_FRAMES, "sampling", "Most frames per window.")
    min_pixels: int = _field(DEFAULT_MIN_PIXELS, "sampling", "Smallest frame area in pixels.")
    max_pixels: int = _field(DEFAULT_MAX_PIXELS, "sampling", "Largest frame area in pixels.")
    total_pixels: float = _field(
        DEFAULT_TOTAL_PIXELS, "sampling", "Pixel budget over all frames of one window (tokens x 784)."
    )
    # strategy and its coarse/fine search
    strategy: Strategy = _field(
        "auto", "strategy", "single, coarse_to_fine, or auto (coarse_to_fine below min_single_fps)."
    )
    coarse_fps: float = _field(0.5, "search", "Frames per second of the coarse pass.")
    coarse_window_seconds: float = _field(600.0, "search", "Window length of the coarse pass, seconds.")
    fine_fps: float = _field(2.0, "search", "Frames per second of the fine pass.")
    fine_padding_seconds: float = _field(
        3.0, "search", "Padding around each coarse candidate before the fine pass, seconds."
    )
    max_candidates: int = _field(4, "search", "Most candidate regions the fine pass re-reads.")
    search_budget: float = _field(
        0.5,
        "search",
        "Grounding's fine search: most fine-pass visual tokens per question, as a fraction of the coarse "
        "pass's (0: today's single fine look per candidate, no check).",
    )
    min_single_fps: float = _field(
        0.5, "search", "strategy='auto' goes coarse_to_fine when one window would be sampled below this."
    )
    # generation
    max_new_tokens: int = _field(
        512, "generation", "Most tokens per answer (an event list needs a few hundred; greedy stops at EOS)."
    )
    do_sample: bool = _field(False, "generation", "Sample tokens instead of greedy decoding.")
    temperature: float | None = _field(
        None, "generation", "Sampling temperature (do_sample only; None: the checkpoint's)."
    )
    top_p: float | None = _field(
        None, "generation", "Nucleus sampling mass (do_sample only; None: the checkpoint's)."
    )
    top_k: int | None = _field(None, "generation", "Top-k sampling (do_sample only; None: the checkpoint's).")
    repetition_penalty: float = _field(
        1.05, "generation", "Penalty on repeated tokens (1.0: none; 1.05 as in the Qwen2.5-VL checkpoints)."
    )
    # prompt and decoder
    prompt_style: PromptStyle = _field(
        DEFAULT_PROMPT_STYLE, "prompt", "Prompt template family: qwen_cookbook or lmms_eval."
    )
    decode_backend: Backend = _field(DEFAULT_BACKEND, "decode", "Decoder of the frames: pyav or decord.")
    video_stream: int | None = _field(
        None, "decode", "Index of the video stream to read; None: the one FFmpeg picks (av_find_best_stream)."
    )
    # timed text (subtitles, transcripts): videoqa.text
    subtitles_max_tokens: int = _field(
        DEFAULT_SUBTITLES_MAX_TOKENS,
        "prompt",
        "Most tokens of timed text (subtitle / transcript cues) in one prompt; over it, cues are kept "
        "evenly over the windows; 0: no timed text.",
    )

    @model_validator(mode="after")
    def _check(self) -> Settings:
        # The budgets are checked by plan_sampling's own rules, so a bad setting fails when the
        # Session or job is built rather than at the first video.
        check_budgets(fps=self.fps, **self.budgets())
        for name in (
            "coarse_fps",
            "coarse_window_seconds",
            "fine_fps",
            "min_single_fps",
            "repetition_penalty",
        ):
            positive_real(name, getattr(self, name))
        if not self.fine_padding_seconds >= 0:
            raise ValueError(f"fine_padding_seconds must be >= 0 seconds, got {self.fine_padding_seconds!r}")
        if not self.search_budget >= 0:
            raise ValueError(
                f"search_budget must be >= 0 (a fraction of the coarse tokens), got {self.search_budget!r}"
            )
        int_at_least("max_candidates", self.max_candidates, 1)
        if self.video_stream is not None:
            int_at_least("video_stream", self.video_stream, 0)
        int_at_least("max_new_tokens", self.max_new_tokens, 1)
        int_at_least("subtitles_max_tokens", self.subtitles_max_tokens, 0)
        given = [n for n in ("temperature", "top_p", "top_k") if getattr(self, n) is not None]
        if given and not self.do_sample:
            raise ValueError(
                f"{', '.join(given)} apply only with do_sample=True (greedy decoding ignores them); "
                "set do_sample=True or leave them unset"
            )
        return self

    def budgets(self) -> dict[str, Any]:
        """The per-window budgets of :func:`videoqa.plan_sampling`, without the rate."""
        return {
            n: getattr(self, n)
            for n in ("min_frames", "max_frames", "min_pixels", "max_pixels", "total_pixels")
        }

    def generation_options(self) -> GenerationOptions:
        """How the model picks tokens (``max_new_tokens`` is passed on its own)."""
        names = {f.name for f in dataclasses.fields(GenerationOptions)}
        return GenerationOptions(**self.model_dump(include=names))

    @classmethod
    def for_model(cls, model: str, base: Settings | None = None) -> Settings:
        """The settings a model string starts from: ``base`` (default: the defaults) with the fields a
        built-in model is declared with (``builtin:tiny-grounder``: 28 x 56 frames, short answers; see
        :mod:`videoqa.model.families`). Every entry point (``Session``, ``JobConfig``, ``EvalConfig``,
        the CLIs) starts from this when no settings are given."""
        found = builtin_model(model) if model.startswith("builtin:") else None
        start = {} if base is None else base.model_dump()
        return cls(**{**start, **(dict(found[1].settings) if found is not None else {})})

    @classmethod
    def group(cls, name: str) -> str:
        """Group of a field: sampling, strategy, search, generation, prompt or decode."""
        extra = cls.model_fields[name].json_schema_extra
        return extra["group"]  # type: ignore[index,return-value]

    @classmethod
    def column(cls, name: str) -> str:
        """The Parquet column of field ``name``: ``fps`` -> ``sampling_fps``, ``strategy`` -> ``strategy``."""
        return _COLUMN_PREFIX.get(cls.group(name), "") + name

    def columns(self) -> dict[str, Any]:
        """The settings flattened under their row column names (every row of the batch job carries them)."""
        return {self.column(name): value for name, value in self.model_dump().items()}

    @classmethod
    def from_columns(cls, row: dict[str, Any]) -> Settings:
        """The settings of a row (other columns are ignored)."""
        return cls(**{name: row[cls.column(name)] for name in cls.model_fields if cls.column(name) in row})


def starting_settings(
    model: str,
    *,
    given: Settings | None = None,
    defaults: Settings | None = None,
    flags: Mapping[str, Any] | None = None,
) -> Settings:
    """The settings a run of ``model`` starts from: the one rule every entry point applies (``Session``,
    ``JobConfig``, ``EvalConfig``, ``videoqa analyze`` / ``run`` / ``eval`` / ``demo``).

    ``given`` (settings the caller gave) replace the model's; without them, :meth:`Settings.for_model`
    lays the fields the model is declared with over ``defaults`` (``Settings()``, or a benchmark's).
    ``flags`` (fields set on the command line, or keyword overrides) go over the result.
    """
    start = given if given is not None else Settings.for_model(model, defaults)
    return Settings(**{**start.model_dump(), **flags}) if flags else start


def digest(payload: Any) -> str:
    """16 hex chars of the SHA-256 of ``payload`` as canonical JSON."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


_LATER_FIELDS = ("video_stream", "search_budget", "subtitles_max_tokens")
"""Settings added after the hash was published: one at its default (the field's own) is left out of
the hash, so every existing configuration keeps its hash (and ``--resume``). Add new fields here."""


def config_hash(model_id: str, settings: Settings, *, family: str | None = None) -> str:
    """16 hex chars naming everything that changes an answer: the model string, its family, the settings.

    Resources (replicas, batch sizes, cache, threads) are not in it, so a rerun on a bigger
    cluster resumes the same items. ``family`` (``"qwen3-vl"``...; see
    ``videoqa.model.families.hash_family``: a local checkpoint's family, which its path does not
    name) joins the hash when the family's declaration says so (``ModelFamily.in_config_hash``: every
    family but Qwen2/2.5-VL, whose hashes stay what they were). Callers with a model string use
    :func:`model_config_hash`.
    """
    values = settings.model_dump()
    for name in _LATER_FIELDS:
        if values[name] == Settings.model_fields[name].default:
            del values[name]
    payload: dict[str, Any] = {"model_id": model_id, "settings": values}
    if family is not None and family_named(family).in_config_hash:
        payload["model_family"] = family
    return digest(payload)


def model_config_hash(model: str, settings: Settings) -> str:
    """The config hash of a model string and settings, as the Session, batch job and evaluation record it.

    The one composition: :func:`config_hash` with the family :func:`~videoqa.model.families.hash_family`
    reads (a local checkpoint's; a hub id or ``builtin:`` name names its own).
    """
    return config_hash(model, settings, family=hash_family(model))

"""Model families, declared once: everything videoqa knows about a family of checkpoints.

Each :class:`ModelFamily` below states, for one family, what used to be spread over tables and
branches: the ``config.json`` ``model_type``\\ s and their transformers classes, the runner (imported
only when a checkpoint is loaded), how the model perceives time, its sampling profile (token size,
where instants fall, default pixel budgets), its built-in model names (tiny checkpoints, the scripted
stand-in, trained demo models), its system prompt per prompt style, whether it joins the config hash
and which :func:`videoqa.load_model` options it takes. :func:`videoqa.load_model`,
:func:`videoqa.plan_sampling`'s callers, :class:`videoqa.Settings`, the prompts, the scripted and
tiny models, the batch stages and the evaluation all ask this module; nothing else branches on a
family name. A family or ``model_type`` not declared here is an error naming the declared ones.

Adding a family (as vLLM's model registry: declare it, nothing else learns its name):

1. Declare it: a ``ModelFamily(...)`` in :data:`_BUILT_IN` (a family shipped with videoqa), or
   :func:`register_family` from a module named in ``$VIDEOQA_MODEL_FAMILIES`` (comma-separated
   module names, imported on the first look-up in every process; for a family kept outside the
   package, or in a test). Ray workers see it when it is set before Ray starts, or passed in the
   job's ``runtime_env={"env_vars": ...}``.
2. Its runner: a :class:`~videoqa.model.VideoLanguageModel` class taking
   ``(model_id, model, processor, load_options, source=...)`` (see ``videoqa.model._qwen.QwenModel``),
   or a scripted stand-in only (``runner=None`` and a :func:`scripted` built-in).
3. A tiny kind, so tests run it offline: a recipe in ``videoqa.model._tiny`` (``TINY_KINDS``) that
   writes a random-weight checkpoint of the family's ``model_type``; name it in ``builtins`` with
   :func:`tiny`.
4. Tests: copy ``tests/test_model_families.py`` (the made-up family runs ``analyze``, ``videoqa run``
   and ``videoqa eval``) and the pixel-budget cases of ``tests/test_sampling_budgets.py``.

``engines`` lists the inference engines that run the family (``"transformers"``, and ``"vllm"`` for
the three Qwen families); ``timed_text`` how subtitles / timed text are laid out in its prompt.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from videoqa.errors import ModelError
from videoqa.model._grounder import GROUNDER_MODEL, GROUNDER_SETTINGS
from videoqa.model._timing import TemporalKind
from videoqa.text._layout import TextLayout
from videoqa.video._sampling import PATCH_FACTOR, PATCH_FACTORS, TARGETS, default_budgets

__all__ = [
    "CHECKPOINT_OPTIONS",
    "DEFAULT_MODEL",
    "ENGINE_OPTIONS",
    "FAMILIES_ENV",
    "BuiltinModel",
    "ModelFamily",
    "SamplingProfile",
    "builtin_model",
    "builtin_models",
    "families",
    "family",
    "family_of",
    "family_of_model_type",
    "hash_family",
    "load_options",
    "model_family",
    "register_family",
    "sampling_profile_for",
    "scripted",
    "tiny",
]

DEFAULT_MODEL = "Qwen/Qwen2.5-VL-7B-Instruct"
"""The model every entry point (``Session``, ``videoqa run / eval / analyze``) defaults to."""

FAMILIES_ENV = "VIDEOQA_MODEL_FAMILIES"
"""Environment variable: comma-separated modules that call :func:`register_family` when imported."""

CHECKPOINT_OPTIONS = (
    "device",
    "dtype",
    "attn_implementation",
    "device_map",
    "cache_dir",
    "revision",
    "requests_per_batch",
    "max_batch_tokens",
    "prefix_reuse",
)
"""The :func:`videoqa.load_model` options of a checkpoint run through transformers."""

ENGINE_OPTIONS = ("engine", "tensor_parallel_size")
"""The :func:`videoqa.load_model` options that pick the engine: taken by a checkpoint of a family that
lists more than one engine (``ModelFamily.engines``)."""

_PIXEL_NAMES = ("min_pixels", "max_pixels", "total_pixels")


@dataclass(frozen=True)
class SamplingProfile:
    """What a model family needs from :func:`videoqa.plan_sampling`.

    ``family`` is recorded with every answer. ``patch_factor`` is the side of one merged visual
    token in pixels (28: Qwen2-VL, Qwen2.5-VL; 32: Qwen3-VL), so a token covers ``patch_factor**2``
    pixels. ``targets`` places the instants (``"uniform"``, or ``"source_frames"``: the frames
    qwen-vl-utils reads, for Qwen3-VL). ``default_tokens`` are the family's default budgets in
    tokens (fewest and most per frame, most per window); None: qwen-vl-utils' 128, 768 and 115,200.
    """

    family: str = ""
    patch_factor: int = PATCH_FACTOR
    targets: Literal["uniform", "source_frames"] = "uniform"
    default_tokens: tuple[int, int, int] | None = None

    def __post_init__(self) -> None:
        if self.patch_factor not in PATCH_FACTORS:
            raise ValueError(f"patch_factor must be one of {PATCH_FACTORS}, got {self.patch_factor!r}")
        if self.targets not in TARGETS:
            raise ValueError(f"targets must be one of {TARGETS}, got {self.targets!r}")

    @property
    def pixels_per_token(self) -> int:
        return self.patch_factor * self.patch_factor

    def default_pixels(self) -> dict[str, float]:
        """The family's default pixel budgets (qwen-vl-utils' at this token size unless declared)."""
        if self.default_tokens is None:
            return default_budgets(self.patch_factor)
        return {n: t * self.pixels_per_token for n, t in zip(_PIXEL_NAMES, self.default_tokens, strict=True)}

    def plan_kwargs(self, *, min_pixels: int, max_pixels: int, total_pixels: float) -> dict[str, Any]:
        """``plan_sampling`` keywords for budgets given as :class:`videoqa.Settings` counts them.

        The one conversion of pixel budgets. Settings count pixels at Qwen2.5-VL's 28 x 28 per token:
        a budget equal to the Settings default becomes the family's own default (qwen-vl-utils'
        number at its token size, exactly); any other is the same token count at this family's token
        size, ``value * (patch_factor / 28)**2`` (sizes rounded to whole pixels). The planners pass the
        result to ``plan_sampling(..., pixels_as_given=True)``, which takes it as it is.
        """
        given = {"min_pixels": min_pixels, "max_pixels": max_pixels, "total_pixels": total_pixels}
        reference, own = default_budgets(PATCH_FACTOR), self.default_pixels()
        out: dict[str, Any] = {"patch_factor": self.patch_factor, "targets": self.targets}
        for name, value in given.items():
            if value == reference[name]:
                out[name] = own[name]
            elif self.patch_factor == PATCH_FACTOR:
                out[name] = value
            else:
                scaled = value * self.pixels_per_token / (PATCH_FACTOR * PATCH_FACTOR)
                out[name] = scaled if name == "total_pixels" else max(1, round(scaled))
        return out


@dataclass(frozen=True)
class BuiltinModel:
    """A ``builtin:`` model name: how it loads and the settings it starts from."""

    name: str
    loader: str
    """``"module:function"``, imported when the model is loaded; called as
    ``function(name, family, **options)`` with the options in ``load_options``."""
    load_options: tuple[str, ...] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)
    """:class:`videoqa.Settings` fields the model starts from instead of the defaults."""
    note: str = ""
    """What its answers mean (``videoqa demo`` prints it)."""

    def load(self, family: ModelFamily, **options: Any) -> Any:
        module, _, attr = self.loader.partition(":")
        taken = {k: v for k, v in options.items() if k in self.load_options}
        return getattr(importlib.import_module(module), attr)(self.name, family, **taken)


def tiny(kind: str, *, note: str = "") -> BuiltinModel:
    """``builtin:tiny-<kind>``: a random-weight checkpoint built by the recipe ``kind`` of ``_tiny``."""
    return BuiltinModel(
        f"builtin:tiny-{kind}", "videoqa.model._loaders:load_tiny", CHECKPOINT_OPTIONS, note=note
    )


def scripted(name: str, *, note: str = "") -> BuiltinModel:
    """``name``: the scripted stand-in (:class:`~videoqa.model._scripted.ScriptedModel`) of the family."""
    return BuiltinModel(name, "videoqa.model._scripted:load_scripted", note=note)


_RANDOM = "a RANDOM-WEIGHT tiny {} run through the real transformers runner; its answers are NOT meaningful"


@dataclass(frozen=True)
class ModelFamily:
    """Everything videoqa knows about one model family; see the module docstring."""

    name: str
    """Recorded with every answer (``model_family``): ``"qwen2.5-vl"``..."""
    time_encoding: TemporalKind
    """How the model perceives time: ``"absolute_time"`` (MRoPE ids follow seconds, Qwen2.5-VL),
    ``"patch_index"`` (MRoPE ids count temporal patches, Qwen2-VL) or ``"timestamp_text"``
    (a ``<t seconds>`` text before each temporal patch, Qwen3-VL)."""
    sampling: SamplingProfile
    """Token size, where instants fall, default budgets (its ``family`` is set to ``name``)."""
    model_types: Mapping[str, str] = field(default_factory=dict)
    """``config.json`` ``model_type`` -> transformers class name loading it."""
    runner: str | None = None
    """``"module:Class"`` running a loaded checkpoint, imported only when one is loaded."""
    builtins: tuple[BuiltinModel, ...] = ()
    system_prompts: Mapping[str, str] = field(default_factory=dict)
    """System message per prompt style (none: the chat template's default)."""
    in_config_hash: bool = True
    """Hash policy: the family joins :func:`videoqa.config_hash`. False only for the families that
    predate the family in the hash (Qwen2-VL, Qwen2.5-VL), which keeps their hashes (and --resume)."""
    load_options: tuple[str, ...] = CHECKPOINT_OPTIONS
    """The :func:`videoqa.load_model` options a checkpoint of this family takes."""
    engines: tuple[str, ...] = ("transformers",)
    """Inference engines that run this family's checkpoints (:data:`videoqa.model.ENGINES`):
    ``"transformers"`` (videoqa's runner), ``"vllm"`` (:mod:`videoqa.model._vllm`: the family's time
    reaches vLLM exactly, checked by its parity tests; README "Engines")."""
    timed_text: TextLayout | None = None
    """How timed text (subtitles, transcripts: :mod:`videoqa.text`) is laid out in this family's
    prompt: ``"block"`` (a timed block after the video, before the question) or ``"interleaved"``
    (each cue after the ``<t seconds>`` patch on screen when it starts); None: the family's prompts
    carry no timed text."""

    def __post_init__(self) -> None:
        if self.sampling.family != self.name:
            object.__setattr__(self, "sampling", dataclasses.replace(self.sampling, family=self.name))

    def runner_class(self) -> type:
        """The runner class (imported now)."""
        if self.runner is None:
            raise ModelError(f"model family {self.name!r} declares no checkpoint runner")
        module, _, attr = self.runner.partition(":")
        return getattr(importlib.import_module(module), attr)

    def system_prompt(self, prompt_style: str) -> str | None:
        return self.system_prompts.get(prompt_style)


_BUILT_IN = (
    ModelFamily(
        name="qwen2.5-vl",
        time_encoding="absolute_time",
        sampling=SamplingProfile(),
        model_types={"qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration"},
        runner="videoqa.model._qwen:QwenModel",
        builtins=(
            scripted(
                "builtin:scripted",
                note="the SCRIPTED stand-in (rules, no neural network) that reads the coloured squares; "
                "its answers are right by construction and show that the timestamps are",
            ),
            tiny(
                "qwen2.5-vl",
                note=_RANDOM.format("Qwen2.5-VL")
                + " (run with --model builtin:scripted to see correct ones)",
            ),
            BuiltinModel(
                GROUNDER_MODEL,
                "videoqa.model._loaders:load_grounder",
                CHECKPOINT_OPTIONS,
                GROUNDER_SETTINGS,
                note="a tiny Qwen2.5-VL TRAINED here on synthetic coloured-square videos, run through the "
                "real transformers runner; a demo model for coloured squares only (see the README)",
            ),
        ),
        in_config_hash=False,
        engines=("transformers", "vllm"),
        timed_text="block",
    ),
    ModelFamily(
        name="qwen2-vl",
        time_encoding="patch_index",
        sampling=SamplingProfile(),
        model_types={"qwen2_vl": "Qwen2VLForConditionalGeneration"},
        runner="videoqa.model._qwen:QwenModel",
        builtins=(tiny("qwen2-vl", note=_RANDOM.format("Qwen2-VL")),),
        in_config_hash=False,
        engines=("transformers", "vllm"),
        timed_text="block",
    ),
    ModelFamily(
        name="qwen3-vl",
        time_encoding="timestamp_text",
        sampling=SamplingProfile(patch_factor=32, targets="source_frames"),
        model_types={
            "qwen3_vl": "Qwen3VLForConditionalGeneration",
            "qwen3_vl_moe": "Qwen3VLMoeForConditionalGeneration",
        },
        runner="videoqa.model._qwen3:Qwen3Model",
        builtins=(
            scripted(
                "builtin:scripted-qwen3-vl",
                note="the SCRIPTED stand-in in its Qwen3-VL mode: it reads each time from the <t seconds> "
                "text a Qwen3-VL prompt holds, so its answers show that those timestamps are right",
            ),
            tiny(
                "qwen3-vl",
                note=_RANDOM.format("Qwen3-VL")
                + " (run with --model builtin:scripted-qwen3-vl to see correct ones)",
            ),
            tiny("qwen3-vl-moe", note=_RANDOM.format("Qwen3-VL mixture-of-experts")),
        ),
        # lmms-eval's qwen3_vl model sends this one (lmms_eval/models/simple/qwen3_vl.py, system_prompt
        # default); Qwen3-VL's chat template has none, Qwen2/2.5-VL's render this very text by default.
        system_prompts={"lmms_eval": "You are a helpful assistant."},
        engines=("transformers", "vllm"),
        timed_text="interleaved",
    ),
)

_REGISTRY: dict[str, ModelFamily] = {f.name: f for f in _BUILT_IN}
_plugins_loaded: set[str] = set()


def register_family(new: ModelFamily) -> ModelFamily:
    """Declare ``new`` (a family outside the package, or a test's); its names must be unused."""
    taken_types = {t for f in families() for t in f.model_types}
    taken_builtins = set(builtin_models())
    if new.name in _REGISTRY:
        raise ValueError(f"model family {new.name!r} is already declared")
    clash = sorted((set(new.model_types) & taken_types) | ({b.name for b in new.builtins} & taken_builtins))
    if clash:
        raise ValueError(f"model family {new.name!r}: {clash} already belong to another family")
    _REGISTRY[new.name] = new
    family_of.cache_clear()
    return new


def _load_plugins() -> None:
    """Import the modules named in ``$VIDEOQA_MODEL_FAMILIES`` (once each per process)."""
    for module in filter(None, (m.strip() for m in os.environ.get(FAMILIES_ENV, "").split(","))):
        if module not in _plugins_loaded:
            _plugins_loaded.add(module)
            importlib.import_module(module)


def families() -> tuple[ModelFamily, ...]:
    """Every declared family, the built-in ones first."""
    _load_plugins()
    return tuple(_REGISTRY.values())


def family(name: str) -> ModelFamily:
    """The family called ``name``; an unknown name is an error naming the declared ones."""
    for candidate in families():
        if candidate.name == name:
            return candidate
    raise ValueError(f"unknown model family {name!r}; declared families: {[f.name for f in families()]}")


def family_of_model_type(model_type: Any, *, source: str = "") -> ModelFamily:
    """The family of a ``config.json`` ``model_type``; an unsupported one names the supported ones."""
    for candidate in families():
        if model_type in candidate.model_types:
            return candidate
    supported = sorted(t for f in families() for t in f.model_types)
    raise ModelError(
        f"{source + ': ' if source else ''}model_type {model_type!r} is not supported; videoqa runs "
        f"{', '.join(supported)} checkpoints (declared in videoqa.model.families)."
    )


def builtin_models() -> dict[str, tuple[ModelFamily, BuiltinModel]]:
    """Every ``builtin:`` name with its family and declaration."""
    return {b.name: (f, b) for f in families() for b in f.builtins}


def builtin_model(model: str) -> tuple[ModelFamily, BuiltinModel] | None:
    """The family and declaration of a ``builtin:`` name; None for any other model string.

    An unknown ``builtin:`` name is an error naming the built-in models.
    """
    if not model.startswith("builtin:"):
        return None
    found = builtin_models().get(model)
    if found is None:
        raise ValueError(f"unknown built-in model {model!r}; choose one of {tuple(builtin_models())}")
    return found


def model_family(model: str, *, revision: str | None = None) -> str:
    """The name of :func:`family_of` ``model`` (``"qwen3-vl"``, ``"qwen2.5-vl"``...)."""
    return family_of(model, revision=revision).name


@functools.lru_cache(maxsize=64)
def family_of(model: str, *, revision: str | None = None) -> ModelFamily:
    """The family of a model string, without loading the model.

    A ``builtin:`` name's is declared; a checkpoint's is its ``config.json`` ``model_type``: a local
    directory's, or for a hub id the one in the Hugging Face cache (downloaded once if missing).
    Raises :class:`~videoqa.errors.ModelError` when the config cannot be read or names a model type
    no family declares.
    """
    found = builtin_model(model)
    if found is not None:
        return found[0]
    path = Path(os.path.expanduser(model))
    if path.is_dir():
        config_file = path / "config.json"
    else:
        try:
            from huggingface_hub import hf_hub_download

            config_file = Path(hf_hub_download(model, "config.json", revision=revision))
        except Exception as exc:  # network, missing repo, gated repo: say which and stop
            raise ModelError(
                f"{model}: cannot read its config.json to learn the model family ({exc}); give a local "
                "checkpoint directory or make the hub id reachable."
            ) from exc
    try:
        model_type = json.loads(config_file.read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError) as exc:
        raise ModelError(f"{config_file}: cannot read the model config ({exc}).") from exc
    return family_of_model_type(model_type, source=model)


def hash_family(model: str) -> str | None:
    """The family :func:`videoqa.config_hash` records for ``model``: read without network.

    A local checkpoint directory's path does not say which model it holds, so its family (from its
    ``config.json``) joins the hash; a hub id or ``builtin:`` name names its model, family included,
    so None. :func:`videoqa.core.settings.model_config_hash` (Session, batch job, evaluation) uses it.
    """
    if model.startswith("builtin:") or not Path(os.path.expanduser(model)).is_dir():
        return None
    return model_family(model)


def sampling_profile_for(model: str) -> SamplingProfile:
    """The sampling profile a loaded ``model`` will state (``model.sampling``), from its string alone."""
    return family_of(model).sampling


def load_options(model: str) -> tuple[str, ...]:
    """The :func:`videoqa.load_model` options ``model`` takes (none for a scripted stand-in).

    A checkpoint's are its family's (its ``config.json`` is read, as loading it would).
    """
    found = builtin_model(model)
    owner, takes = (found[0], found[1].load_options) if found is not None else (family_of(model), None)
    takes = owner.load_options if takes is None else takes
    return (*takes, *ENGINE_OPTIONS) if takes and len(owner.engines) > 1 else takes

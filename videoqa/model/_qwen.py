"""The real runner: Qwen2.5-VL and Qwen2-VL checkpoints through transformers.

How generation works (checked against transformers 5.23 ``generation/utils.py`` and
``modeling_qwen2_5_vl.py``):

1. ``encode`` runs the checkpoint's own video processor on the clip's frames with
   ``do_resize=False`` and ``do_sample_frames=False`` (our frames are already sampled at
   the window's instants and resized to the window's size), checks the grid equals
   ``window.grid_thw``, and keeps the vision tower's merged embeddings on the CPU.
2. ``generate`` renders the checkpoint's chat template with one video part per window,
   expands each ``<|video_pad|>`` to the window's exact token count, left-pads the batch,
   embeds the tokens and writes each window's cached embeddings over its video tokens.
3. Position IDs are built here (``_inputs.mrope_positions``) from each window's grid and
   :func:`videoqa.temporal_ids` of the window, i.e. from its true
   ``second_per_grid = temporal_patch_size / sampled_fps`` (never a default fps), in the
   float32 arithmetic transformers' ``get_rope_index`` uses.
   They are passed to ``generate`` as a ``(4, batch, length)`` tensor: text positions first,
   then temporal/height/width, the layout the model's own ``_prepare_position_ids_for_generation``
   produces. When ``position_ids`` is given, ``generate`` skips its own computation and, for
   every new token, appends ``last + 1`` on each row (``_update_model_kwargs_for_generation``);
   since the prompt ends with text whose id is the sequence maximum, that is exactly the
   reference rule (new tokens continue at ``max + 1``). ``rope_deltas`` are not used when
   ``position_ids`` are passed.
4. ``input_ids`` are passed along with ``inputs_embeds``: the first step runs on the
   embeddings, later steps embed the new tokens, and logits processors (a checkpoint's
   ``repetition_penalty``) see the prompt ids exactly as in the pixel path.

Why not let transformers compute the positions from ``video_grid_thw`` and
``second_per_grid_ts``: since 5.3 its ``get_rope_index`` restarts the text after a video at
``start + max(h, w)`` rather than after the video's largest temporal id (see ``_inputs``).
The ids of the video tokens themselves are identical; tests check both.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from videoqa.errors import ModelError
from videoqa.model import _batching, _devices, _inputs
from videoqa.model._generation import BatchedGeneration, _pad_rows, _Row
from videoqa.model._protocol import GenerationRequest, TemporalConfig, VisualFeatures
from videoqa.model._weights import weight_file_digest
from videoqa.model.families import family_of_model_type
from videoqa.text._layout import TextLayout, cue_block
from videoqa.video._sampling import int_at_least

RUNNER_VERSION = "qwen-runner-2"  # 2: typed window payload (QwenWindowFeatures)

__all__ = [
    "LoadOptions",
    "QwenModel",
    "QwenWindowFeatures",
    "load_qwen",
    "temporal_config_from",
    "warn_if_default_tokens_per_second",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class QwenWindowFeatures:
    """The Qwen runner's payload of one window (``VisualFeatures.data``): what the vision tower made."""

    embeddings: Any
    """Merged vision embeddings, a CPU tensor of shape (visual_tokens, hidden size)."""
    grid_thw: tuple[int, int, int]
    """(temporal patches, height patches, width patches) of the window before the 2x2 merge."""
    second_per_grid: float
    """Seconds per temporal patch the window was encoded with (temporal_patch_size / sampled_fps)."""
    fingerprint: str
    """The model's fingerprint: features of another model or preprocessing are refused."""


@dataclass(frozen=True)
class LoadOptions:
    """Where and how a checkpoint was loaded (device, dtype, batching): ``QwenModel.load_options``."""

    device: str
    dtype: str
    attn_implementation: str
    device_map: Any
    requests_per_batch: int
    max_batch_tokens: int | None = None  # padded prompt tokens per generate call; None: from free memory
    prefix_reuse: bool = True  # prefill a prompt prefix shared by requests on the same windows once


def load_qwen(
    model_id: str,
    source: str,
    *,
    cache_dir: Any = None,
    revision: str | None = None,
    device: str | None = None,
    dtype: str = "auto",
    attn_implementation: str | None = None,
    device_map: Any = None,
    requests_per_batch: int = 8,
    max_batch_tokens: int | None = None,
    prefix_reuse: bool = True,
) -> QwenModel:
    """``from_pretrained`` of a hub id or checkpoint directory: the one path for real and tiny models."""
    import torch
    import transformers

    int_at_least("requests_per_batch", requests_per_batch, 1)
    if max_batch_tokens is not None and max_batch_tokens < 1:
        raise ValueError(f"max_batch_tokens must be >= 1 or None, got {max_batch_tokens}")
    hub = {"cache_dir": None if cache_dir is None else str(cache_dir), "revision": revision}
    try:
        config = transformers.AutoConfig.from_pretrained(source, **hub)
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"{source}: cannot read a model config ({exc}); give a hub id or a checkpoint directory."
        ) from exc
    family = family_of_model_type(config.model_type, source=source)
    if family.time_encoding == "absolute_time":
        raw, _ = transformers.PreTrainedConfig.get_config_dict(source, **hub)
        warn_if_default_tokens_per_second(source, raw, default=config.vision_config.tokens_per_second)
    where = _devices.placement(
        config,
        device=device,
        dtype=dtype,
        attn_implementation=attn_implementation,
        device_map=device_map,
        facts=_devices.cuda_facts(),
        flash=_devices.flash_attn_status(),
    )
    logger.info("%s: %s", source, where.describe())
    for warning in where.warnings:
        logger.warning("%s: %s", source, warning)
    if where.device_map is not None:
        _devices.require_accelerate("loading onto a GPU (device_map)")
    options = LoadOptions(
        device=where.device,
        dtype=where.dtype,
        attn_implementation=where.attn_implementation,
        device_map=where.device_map,
        requests_per_batch=requests_per_batch,
        max_batch_tokens=max_batch_tokens,
        prefix_reuse=prefix_reuse,
    )
    model_class = getattr(transformers, family.model_types[config.model_type])
    placement_kwargs = {} if where.max_memory is None else {"max_memory": where.max_memory}
    try:
        processor = transformers.AutoProcessor.from_pretrained(source, **hub)
        model = model_class.from_pretrained(
            source,
            config=config,
            dtype=getattr(torch, options.dtype),
            attn_implementation=options.attn_implementation,
            device_map=options.device_map,
            **placement_kwargs,
            **hub,
        )
    except OSError as exc:
        raise ModelError(f"{source}: cannot load the checkpoint ({exc}).") from exc
    _devices.check_no_offload(getattr(model, "hf_device_map", None), requested=device_map)
    if options.device_map is None:
        model = model.to(options.device)
    runner = family.runner_class()(model_id, model.eval(), processor, options, source=source)
    budget = runner.token_budget()
    per_token = _batching.bytes_per_prompt_token(config, dtype_bytes=torch.finfo(model.dtype).bits // 8)
    logger.info(
        "%s: generate calls hold at most %s padded prompt tokens (about %d KiB each: KV cache + activations)",
        source,
        "an unlimited number of" if budget is None else f"{budget:,}",
        per_token // 1024,
    )
    return runner


def temporal_config_from(config: Any) -> TemporalConfig:
    """TemporalConfig of a loaded Qwen-VL config (``vision_config`` holds the facts; the family, the kind)."""
    kind = family_of_model_type(getattr(config, "model_type", None)).time_encoding
    vision = config.vision_config
    # Qwen2.5-VL: vision_config.tokens_per_second (2 in the released checkpoints; the class default is 4).
    # Qwen2-VL has none: its temporal ids count temporal patches, one per patch; Qwen3-VL reads time as text.
    tokens_per_second = float(vision.tokens_per_second) if kind == "absolute_time" else 1.0
    return TemporalConfig(
        kind=kind, tokens_per_second=tokens_per_second, temporal_patch_size=int(vision.temporal_patch_size)
    )


def warn_if_default_tokens_per_second(source: str, raw_config: dict[str, Any], *, default: float) -> bool:
    """Log a warning (and return True) when a Qwen2.5-VL ``config.json`` does not set tokens_per_second.

    transformers then silently uses its class default (``default``, 4), while the released
    checkpoints set 2: every temporal id, hence every time the model reports, would be off by 2x.
    """
    vision = raw_config.get("vision_config") or {}
    if "tokens_per_second" in vision:
        return False
    logger.warning(
        "%s: config.json sets no vision_config.tokens_per_second; transformers' class default %g is used "
        "(released Qwen2.5-VL checkpoints set 2). Temporal ids, and so every time the model reports, "
        "depend on it: add the checkpoint's value to its config.json.",
        source,
        default,
    )
    return True


class QwenModel(BatchedGeneration):
    """A loaded Qwen2-VL / Qwen2.5-VL checkpoint implementing :class:`VideoLanguageModel`."""

    def __init__(
        self,
        model_id: str,
        model: Any,
        processor: Any,
        load_options: LoadOptions,
        *,
        source: str | None = None,
    ):
        self.model_id = model_id
        self.source = source or model_id
        """The hub id or local directory the weights were loaded from."""
        self.model = model
        self.processor = processor
        self.load_options = load_options
        """Device, dtype, attention and batching it was loaded with (answers' settings: videoqa.Settings)."""
        self.temporal = temporal_config_from(model.config)
        self.sampling = family_of_model_type(model.config.model_type).sampling
        self.text_layout: TextLayout | None = family_of_model_type(model.config.model_type).timed_text
        """How the family lays out timed text (``ModelFamily.timed_text``): ``"block"`` here, a timed
        block after the video and before the question (Video-MME's "with subtitles", with times)."""
        """The family's sampling needs (token size, where instants fall); see SamplingProfile."""
        self.tokenizer = processor.tokenizer
        self.video_token = processor.video_token
        self.video_token_id = int(model.config.video_token_id)
        if self.tokenizer.convert_tokens_to_ids(self.video_token) != self.video_token_id:
            raise ModelError(
                f"{model_id}: the tokenizer's {self.video_token} is not config.video_token_id "
                f"({self.video_token_id}); the checkpoint's tokenizer and config do not belong together."
            )
        self.spatial_merge_size = int(model.config.vision_config.spatial_merge_size)
        pad = self.tokenizer.pad_token_id
        self.pad_token_id = int(pad if pad is not None else model.generation_config.pad_token_id or 0)
        self._fingerprint: str | None = None

    def __repr__(self) -> str:
        s = self.load_options
        return (
            f"{type(self).__name__}({self.model_id!r}, {self.model.config.model_type}, device={s.device}, "
            f"dtype={s.dtype}, attn={s.attn_implementation}, "
            f"temporal={self.temporal.kind}@{self.temporal.tokens_per_second}/s)"
        )

    # -- identity -------------------------------------------------------------------------------
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = _fingerprint(self)
        return self._fingerprint

    # -- vision side ----------------------------------------------------------------------------
    def preprocess(
        self, frames: np.ndarray, *, device: str | None = None
    ) -> tuple[Any, tuple[int, int, int]]:
        """pixel_values_videos and grid of already sampled, already resized uint8 (T, H, W, 3) frames.

        ``device`` runs the processor's rescale, normalisation and patchify there: on a GPU this
        moves ~5 s per 192 frames of single-threaded CPU work (a GPU actor gets one CPU) off the
        critical path, and only uint8 frames cross the bus, not the fp32 pixels (4x larger).
        """
        extra = {} if device is None else {"device": device}
        out = self.processor.video_processor(
            videos=[frames],
            do_resize=False,
            do_sample_frames=False,
            cap_pixels_per_frame=False,
            return_tensors="pt",
            **extra,
        )
        grid = tuple(int(x) for x in out["video_grid_thw"][0].tolist())
        return out["pixel_values_videos"], grid

    def encode(self, clip: Any) -> VisualFeatures:
        import torch

        window = clip.window
        if clip.frames.shape[1:3] != (window.height, window.width):
            raise ModelError(
                f"window {window.index}: frames are {clip.frames.shape[2]}x{clip.frames.shape[1]} but the "
                f"window is {window.width}x{window.height}; decode with the plan's sizes."
            )
        visual = self.model.model.visual
        pixels, grid = self.preprocess(clip.frames, device=str(visual.device))
        if grid != tuple(window.grid_thw):
            raise ModelError(
                f"window {window.index}: the processor made grid {grid} from {clip.frames.shape[0]} frames, "
                f"expected window.grid_thw {tuple(window.grid_thw)} (frame count must be a multiple of "
                f"{window.temporal_patch_size})."
            )
        grid_t = torch.tensor([grid], dtype=torch.long, device=visual.device)
        try:
            with torch.inference_mode():
                # Cast where the pixels are (the tower casts to its dtype first thing anyway).
                pixels = pixels.to(device=visual.device, dtype=visual.dtype)
                out = self.model.model.get_video_features(pixels, grid_t, return_dict=True)
        except Exception as exc:
            self._raise_device_failure(exc, f"encoding window {window.index} ({window.visual_tokens} tokens)")
            raise
        embeddings = torch.cat(list(out.pooler_output), dim=0).to("cpu").contiguous()
        if embeddings.shape[0] != window.visual_tokens:
            raise ModelError(
                f"window {window.index}: {embeddings.shape[0]} embeddings for {window.visual_tokens} tokens"
            )
        data = self._window_payload(out, embeddings, grid, window)
        return VisualFeatures(
            window=window,
            pts_seconds=np.asarray(clip.pts_seconds, dtype=np.float64),
            data=data,
            warnings=list(clip.warnings),
            stale_targets=tuple(clip.stale_targets),
        )

    def _window_payload(self, out: Any, embeddings: Any, grid: tuple[int, int, int], window: Any) -> Any:
        """The cacheable payload of one encoded window (``out``: the vision tower's output)."""
        return QwenWindowFeatures(
            embeddings=embeddings,
            grid_thw=grid,
            second_per_grid=float(window.second_per_grid),
            fingerprint=self.fingerprint(),
        )

    # -- language side --------------------------------------------------------------------------
    def build_inputs(self, requests: Sequence[GenerationRequest]) -> dict[str, Any]:
        """input_ids, attention_mask, position_ids (numpy) and the per-row feature lists."""
        return _pad_rows(
            [self._build_row(n, request) for n, request in enumerate(requests)], self.pad_token_id
        )

    def _build_row(self, n: int, request: GenerationRequest) -> _Row:
        """One request's token ids, MRoPE positions (3, L) and window embeddings."""
        if not request.features:
            raise ModelError(f"request {n} has no encoded windows")
        datas = [self._check_features(f) for f in request.features]
        text = _inputs.chat_text(
            self.processor, self._user_text(request), num_videos=len(datas), system=request.system_prompt
        )
        try:
            text = self._expand_videos(text, request, datas)
        except ValueError as exc:
            raise ModelError(f"{self.model_id}: chat template problem: {exc}") from exc
        ids = list(self.tokenizer(text)["input_ids"])
        return _Row(
            ids=ids, positions=self._positions(ids, request, datas), features=self._row_features(datas)
        )

    def count_text_tokens(self, text: str) -> int:
        """Tokens of ``text`` alone (no special tokens): how the timed-text budget is counted."""
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _user_text(self, request: GenerationRequest) -> str:
        """The question, after the timed-text block when the family lays its cues out as one."""
        timed = request.timed_text
        if timed is None or self.text_layout != "block":
            return request.prompt
        block = cue_block(
            timed.cues,
            origin_seconds=request.features[0].window.start_seconds,
            max_tokens=timed.max_tokens,
            count_tokens=self.count_text_tokens,
        )
        return block + request.prompt

    def _expand_videos(self, text: str, request: GenerationRequest, datas: Sequence[Any]) -> str:
        """The chat text with each video placeholder expanded to its window's tokens."""
        return _inputs.expand_video_placeholders(
            text, video_token=self.video_token, token_counts=[int(d.embeddings.shape[0]) for d in datas]
        )

    def _positions(self, ids: Sequence[int], request: GenerationRequest, datas: Sequence[Any]) -> np.ndarray:
        """(3, len(ids)) MRoPE positions in the layout the family was trained with."""
        return _inputs.mrope_positions(
            ids,
            video_token_id=self.video_token_id,
            grids_thw=[d.grid_thw for d in datas],
            temporal_ids=[self.temporal_ids(f.window) for f in request.features],
            spatial_merge_size=self.spatial_merge_size,
        )

    def _row_features(self, datas: Sequence[Any]) -> list[Any]:
        """What a row carries into ``embed`` / ``visual_inputs``: the window embeddings here."""
        return [d.embeddings for d in datas]

    def visual_inputs(self, features: Sequence[Sequence[Any]]) -> dict[str, Any]:
        """Extra forward arguments for a prefill over rows carrying ``features``; none for Qwen2/2.5-VL."""
        return {}

    def temporal_ids(self, window: Any) -> np.ndarray:
        """Temporal MRoPE ids of ``window``'s patches relative to the video's first position."""
        return self.temporal.temporal_ids(window)

    def _check_features(self, features: VisualFeatures) -> QwenWindowFeatures:
        data = features.data
        if not isinstance(data, QwenWindowFeatures):
            raise ModelError(f"window {features.window.index}: these features were not made by a Qwen runner")
        if data.fingerprint != self.fingerprint():
            raise ModelError(
                f"window {features.window.index}: features were encoded by another model or preprocessing "
                f"({data.fingerprint} != {self.fingerprint()}); encode again with this model."
            )
        return data

    def embed(self, input_ids: Any, features: Sequence[Sequence[Any]]) -> Any:
        """Token embeddings with each row's cached video embeddings written over its video tokens."""
        import torch

        embed_tokens = self.model.get_input_embeddings()
        embeds = embed_tokens(input_ids)
        for b, row_features in enumerate(features):
            where = (input_ids[b] == self.video_token_id).nonzero(as_tuple=True)[0]
            values = torch.cat([f.to(embeds.device, embeds.dtype) for f in row_features], dim=0)
            if values.shape[0] != where.shape[0]:
                raise ModelError(f"row {b}: {where.shape[0]} video tokens for {values.shape[0]} embeddings")
            embeds[b, where] = values
        return embeds


def _fingerprint(runner: QwenModel) -> str:
    """Weights, dtype and preprocessing, hashed; the same checkpoint gives the same string anywhere.

    A hub checkpoint is named by its id and resolved commit. A local directory is named by its
    content, not its path: config.json plus, per weight file, its size and a SHA-256 of all its bytes
    (computed once per file and remembered, see :mod:`videoqa.model._weights`), so checkpoints whose
    weights differ anywhere get different fingerprints.
    """
    config = runner.model.config
    facts: dict[str, Any] = {
        "runner": RUNNER_VERSION,
        "dtype": runner.load_options.dtype,
        "model_type": config.model_type,
    }
    path = Path(runner.source)
    if path.is_dir():
        facts["config"] = hashlib.sha256((path / "config.json").read_bytes()).hexdigest()
        facts["weights"] = [weight_file_digest(p) for p in sorted(path.glob("*.safetensors"))]
    else:
        facts["model_id"] = runner.source
        facts["commit"] = getattr(config, "_commit_hash", None)
    vp = runner.processor.video_processor
    facts["video_processor"] = {
        k: _plain(getattr(vp, k, None))
        for k in (
            "image_mean",
            "image_std",
            "rescale_factor",
            "patch_size",
            "merge_size",
            "temporal_patch_size",
        )
    }
    blob = json.dumps(facts, sort_keys=True, default=str).encode()
    return f"{config.model_type}:{hashlib.sha256(blob).hexdigest()[:20]}"


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, (tuple, list)) else value

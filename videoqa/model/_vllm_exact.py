"""Inside the vLLM venv: Qwen model classes registered with vLLM that keep videoqa's time exactly.

Registered by :mod:`videoqa.model._vllm_plugin` (in the worker, and through vLLM's plugin entry
point in every process vLLM starts), imported by vLLM when it builds the model.

What is corrected (vLLM 0.31-0.32, ``qwen2_5_vl.py``):

- **Qwen2.5-VL temporal ids.** vLLM computes ``int(g * (float32(second_per_grid) * tokens_per_second))``
  in float64; videoqa (and transformers, which the checkpoints were trained with) multiplies in
  float32, so a patch that starts exactly on a tick comes out one id lower in vLLM.
  :class:`ExactTimeQwen2_5_VL` computes every position with :func:`videoqa.model._inputs.mrope_positions`
  and :func:`videoqa.model._timing.float32_temporal_ids`: the runner's own arithmetic.
- **Embeddings without their time.** For precomputed ``video_embeds`` vLLM's parser drops
  ``second_per_grid_ts`` and the positions silently fall back to 1 s per patch. Here
  ``second_per_grid_ts`` is a required field of an embeddings item: a request without it is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import torch
from vllm.model_executor.models.qwen2_5_vl import (
    Qwen2_5_VLDummyInputsBuilder,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2_5_VLMultiModalProcessor,
    Qwen2_5_VLProcessingInfo,
)
from vllm.model_executor.models.qwen2_vl import (
    Qwen2VLMultiModalDataParser,
    _create_qwen2vl_field_factory,
)
from vllm.multimodal import MULTIMODAL_REGISTRY
from vllm.multimodal.inputs import MultiModalFieldConfig
from vllm.multimodal.parse import DictEmbeddingItems

from videoqa.model._inputs import mrope_positions
from videoqa.model._timing import float32_temporal_ids

__all__ = ["ExactTimeQwen2_5_VL", "find_positions", "record_positions", "take_positions"]


def _with_second_per_grid(factory: Any) -> Any:
    def fields(hf_inputs: Mapping[str, torch.Tensor]) -> Mapping[str, MultiModalFieldConfig]:
        return {
            **factory(hf_inputs),
            "second_per_grid_ts": MultiModalFieldConfig.batched("video", keep_on_cpu=True),
        }

    return fields


class _TimedEmbeddingsParser(Qwen2VLMultiModalDataParser):
    """An embeddings item must carry ``second_per_grid_ts`` (its time), which reaches the positions."""

    embedding_fields: ClassVar[dict[str, dict[str, str]]] = {
        **Qwen2VLMultiModalDataParser.embedding_fields,
        "video": {**Qwen2VLMultiModalDataParser.embedding_fields["video"], "second_per_grid_ts": "metadata"},
    }

    def _parse_video_data(self, data: Any) -> Any:
        if isinstance(data, dict):
            required, optional = self.embedding_field_sets("video")
            return DictEmbeddingItems(
                data,
                modality="video",
                required_fields=required,
                optional_fields=optional,
                fields_factory=_with_second_per_grid(_create_qwen2vl_field_factory(self._spatial_merge_size)),
            )
        return super()._parse_video_data(data)


class _TimedProcessingInfo(Qwen2_5_VLProcessingInfo):
    def get_data_parser(self) -> Any:
        return _TimedEmbeddingsParser(
            self.get_hf_config().vision_config.spatial_merge_size,
            video_needs_metadata=True,
            expected_hidden_size=self._get_expected_hidden_size(),
            allow_missing_mm_embeddings=self.allow_missing_mm_embeddings,
        )


@MULTIMODAL_REGISTRY.register_processor(
    Qwen2_5_VLMultiModalProcessor, info=_TimedProcessingInfo, dummy_inputs=Qwen2_5_VLDummyInputsBuilder
)
class ExactTimeQwen2_5_VL(Qwen2_5_VLForConditionalGeneration):
    """vLLM's Qwen2.5-VL with MRoPE positions from videoqa's arithmetic (see the module docstring)."""

    def get_mrope_input_positions(self, input_tokens: list[int], mm_features: list[Any]) -> tuple[Any, int]:
        features = sorted(mm_features, key=lambda f: f.mm_position.offset)
        if any(f.modality != "video" for f in features):
            return super().get_mrope_input_positions(input_tokens, mm_features)
        vision = self.config.vision_config
        grids, temporal = [], []
        for feature in features:
            t, h, w = (int(x) for x in feature.data["video_grid_thw"].data.tolist())
            seconds = feature.data.get("second_per_grid_ts")
            if seconds is None:
                raise ValueError(
                    "a Qwen2.5-VL video reached the model without second_per_grid_ts; its temporal "
                    "positions would be a guess (videoqa refuses this)"
                )
            grids.append((t, h, w))
            temporal.append(
                float32_temporal_ids(
                    t,
                    second_per_grid=float(seconds.data.item()),
                    tokens_per_second=float(vision.tokens_per_second),
                )
            )
        positions = mrope_positions(
            input_tokens,
            video_token_id=int(self.config.video_token_id),
            grids_thw=grids,
            temporal_ids=temporal,
            spatial_merge_size=int(vision.spatial_merge_size),
        )
        delta = int(positions.max()) + 1 - len(input_tokens) if positions.size else 0
        return torch.from_numpy(np.ascontiguousarray(positions)), delta


def record_positions(model: Any) -> None:
    """Make ``model`` keep the MRoPE positions of every prompt it starts (read with :func:`take_positions`).

    Installed on the model instance through ``LLM.apply_model``; works on vLLM's own classes too,
    so the self-check sees the positions a plain vLLM would use. Each record is (prompt token ids,
    the multimodal identifiers in prompt order, positions): Qwen2.5-VL prompts at different times
    have the same token ids, so the identifiers tell them apart.
    """
    if getattr(model, "_videoqa_positions", None) is not None:
        return
    compute = model.get_mrope_input_positions
    seen: list[tuple[tuple[int, ...], tuple[str, ...], np.ndarray]] = []

    def recording(input_tokens: list[int], mm_features: list[Any]) -> tuple[Any, int]:
        positions, delta = compute(input_tokens, mm_features)
        identifiers = tuple(
            str(f.identifier) for f in sorted(mm_features, key=lambda f: f.mm_position.offset)
        )
        seen.append((tuple(int(t) for t in input_tokens), identifiers, np.asarray(positions, dtype=np.int64)))
        return positions, delta

    model.get_mrope_input_positions = recording
    model._videoqa_positions = seen


def take_positions(model: Any) -> list[tuple[tuple[int, ...], tuple[str, ...], np.ndarray]]:
    """The positions recorded since the last call (and forget them)."""
    seen = getattr(model, "_videoqa_positions", None)
    if seen is None:
        return []
    out = list(seen)
    seen.clear()
    return out


def find_positions(
    records: list[tuple[tuple[int, ...], tuple[str, ...], np.ndarray]],
    token_ids: list[int],
    uuids: list[str | None],
) -> np.ndarray | None:
    """The recorded positions of the prompt ``token_ids`` whose items carry ``uuids`` (the last such)."""
    tokens = tuple(token_ids)
    found = None
    for record_tokens, identifiers, positions in records:
        if record_tokens != tokens:
            continue
        if all(u is None or (k < len(identifiers) and u in identifiers[k]) for k, u in enumerate(uuids)):
            found = positions
    return found

"""Generation in the Qwen runner: calls planned by tokens, prefix reuse, out-of-memory handling.

:class:`BatchedGeneration` is the half of :class:`~videoqa.model._qwen.QwenModel` that turns built
rows (token ids, MRoPE positions, window embeddings) into answers:

- requests on the same windows whose prompts share a prefix covering the video are served from one
  prefill of that prefix (:mod:`videoqa.model._prefix`) when that pays: a small cost model weighs
  the prefill saved against the cache copies and the extra calls (:func:`~videoqa.model._prefix.reuse_pays`);
- the others go in calls planned by padded tokens (:mod:`videoqa.model._batching`);
- a call that runs out of GPU memory is split in halves; a single request that does not fit, and a
  GPU left unusable, raise typed errors.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from videoqa.errors import DeviceFailedError, ModelOutOfMemoryError
from videoqa.model import _batching, _devices, _inputs, _prefix
from videoqa.model._protocol import Generation, GenerationOptions, GenerationRequest
from videoqa.video._sampling import int_at_least

__all__ = ["BatchedGeneration"]

logger = logging.getLogger(__name__)


class BatchedGeneration:
    """Mixin of the Qwen runner; expects ``model``, ``tokenizer``, ``load_options``, ``model_id``,
    ``pad_token_id``, ``video_token_id``, ``_build_row``, ``embed`` and ``visual_inputs`` from the runner."""

    _oom_budget: int | None = None  # lowered after an out-of-memory split
    reuse_cost: _prefix.ReuseCost = _prefix.REUSE_COST
    """The cost model deciding per call whether prefix reuse pays (tests set one where it always does)."""

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        *,
        max_new_tokens: int,
        options: GenerationOptions | None = None,
    ) -> list[Generation]:
        """Answer ``requests`` (results in their order), in calls planned by padded tokens.

        Calls hold requests of similar length within ``requests_per_batch`` requests and the token budget
        (see :mod:`videoqa.model._batching`). A call that runs out of GPU memory is split in
        halves and retried, and the budget shrinks for the rest of this runner's life; a single
        request that does not fit raises :class:`~videoqa.errors.ModelOutOfMemoryError`.
        """
        int_at_least("max_new_tokens", max_new_tokens, 1)
        config = self._generation_config(max_new_tokens, options or GenerationOptions())
        rows = [self._build_row(n, request) for n, request in enumerate(requests)]
        results: dict[int, Generation] = {}
        for group in self._prefix_groups(rows, max_new_tokens=max_new_tokens):
            generations = self._generate_from_prefix([rows[i] for i in group.indices], group, config)
            results.update(zip(group.indices, generations, strict=True))
        rest = [i for i in range(len(rows)) if i not in results]
        batches = _batching.plan_batches(
            [len(rows[i].ids) for i in rest],
            max_requests=self.load_options.requests_per_batch,
            max_padded_tokens=self.token_budget(),
        )
        for batch in batches:
            indices = [rest[b] for b in batch]
            generations = self._generate_split([rows[i] for i in indices], config)
            results.update(zip(indices, generations, strict=True))
        return [results[i] for i in range(len(rows))]

    def _prefix_groups(self, rows: Sequence[_Row], *, max_new_tokens: int) -> list[_prefix.PrefixGroup]:
        """Groups whose shared prefix is worth prefilling once (:func:`videoqa.model._prefix.reuse_pays`)."""
        if not self.load_options.prefix_reuse:
            return []
        groups = _prefix.prefix_groups(
            [row.ids for row in rows],
            # Requests on the same encoded windows carry the very same embedding tensors.
            [tuple(id(features) for features in row.features) for row in rows],
            video_token_id=self.video_token_id,
        )
        return [g for g in groups if self._reuse_pays([rows[i] for i in g.indices], g, max_new_tokens)]

    def _reuse_pays(self, rows: Sequence[_Row], group: _prefix.PrefixGroup, max_new_tokens: int) -> bool:
        lengths = [len(row.ids) for row in rows]
        calls = _batching.plan_batches(
            lengths, max_requests=self.load_options.requests_per_batch, max_padded_tokens=self.token_budget()
        )
        pays = _prefix.reuse_pays(
            shared_tokens=group.prefix_tokens,
            unshared_tokens=[n - group.prefix_tokens for n in lengths],
            batched_calls=len(calls),
            max_new_tokens=max_new_tokens,
            cost=self.reuse_cost,
        )
        logger.debug(
            "%s: %d requests share %d prefix tokens: %s",
            self.model_id,
            len(rows),
            group.prefix_tokens,
            "one prefill, copied" if pays else "batched prefills (reuse would not pay)",
        )
        return pays

    def _generate_from_prefix(
        self, rows: Sequence[_Row], group: _prefix.PrefixGroup, config: Any
    ) -> list[Generation]:
        """Prefill the group's shared prefix once, then generate each request from a copy of its cache."""
        import copy

        import torch

        prefix = group.prefix_tokens
        first = rows[0]
        shared = _Row(ids=first.ids[:prefix], positions=first.positions[:, :prefix], features=first.features)
        built = _pad_rows([shared], self.pad_token_id)
        device = self.model.get_input_embeddings().weight.device
        input_ids = torch.from_numpy(built["input_ids"]).to(device)
        try:
            with torch.inference_mode():
                out = self.model(
                    inputs_embeds=self.embed(input_ids, built["features"]),
                    position_ids=torch.from_numpy(built["position_ids"]).to(device),
                    use_cache=True,
                    logits_to_keep=1,
                    **self.visual_inputs(built["features"]),
                )
        except Exception as exc:
            self._raise_device_failure(exc, f"prefilling a shared prefix of {prefix} tokens")
            raise
        cache = out.get("cache", None) or out.get("past_key_values")
        del out
        results = []
        for n, row in enumerate(rows):
            generation = self._generate_split([row], config, cache=copy.deepcopy(cache))[0]
            results.append(dataclasses.replace(generation, cached_prefix_tokens=prefix if n else 0))
        return results

    def token_budget(self) -> int | None:
        """Padded prompt tokens per call: the smallest of the setting, what free GPU memory holds
        and what the last out-of-memory split left; ``None`` (no limit) on the CPU without a setting."""
        limits = [self.load_options.max_batch_tokens, self._oom_budget]
        if self.load_options.device.startswith("cuda"):
            import torch

            per_token = _batching.bytes_per_prompt_token(
                self.model.config, dtype_bytes=torch.finfo(getattr(torch, self.load_options.dtype)).bits // 8
            )
            free = torch.cuda.mem_get_info(self.model.get_input_embeddings().weight.device)[0]
            limits.append(_batching.token_budget(free, per_token_bytes=per_token))
        known = [limit for limit in limits if limit is not None]
        return min(known) if known else None

    def _generate_split(self, rows: list[_Row], config: Any, *, cache: Any = None) -> list[Generation]:
        """Generate ``rows`` in one call; on out-of-memory, in two halves (recursively)."""
        try:
            return self._generate_batch(rows, config, cache=cache)
        except Exception as exc:
            padded = len(rows) * max(len(row.ids) for row in rows)
            if len(rows) == 1 or not _devices.is_out_of_memory(exc):
                self._raise_device_failure(
                    exc, f"generating {len(rows)} request(s) of {padded} padded prompt tokens"
                )
                raise
            _devices.release_cached_memory()
            self._oom_budget = max(1, min(padded // 2, self._oom_budget or padded))
            logger.warning(
                "%s: out of memory on %d requests (%d padded tokens); retrying in halves",
                self.model_id,
                len(rows),
                padded,
            )
            half = len(rows) // 2
            return self._generate_split(rows[:half], config) + self._generate_split(rows[half:], config)

    @cached_property
    def _cache_argument(self) -> str:
        """``generate``'s keyword for a key/value cache: ``cache`` (newer transformers) or the older name."""
        return "cache" if "cache" in inspect.signature(self.model.forward).parameters else "past_key_values"

    def _raise_device_failure(self, error: Exception, what: str) -> None:
        """Re-raise a device failure as a typed error; return for any other error."""
        if _devices.is_fatal_device_error(error):
            raise DeviceFailedError(
                f"{self.model_id}: the GPU failed while {what} ({error}); this process cannot use it again "
                "and must be restarted."
            ) from error
        if _devices.is_out_of_memory(error):
            _devices.release_cached_memory()
            raise ModelOutOfMemoryError(
                f"{self.model_id}: {what} does not fit the device ({error}); lower the visual-token budget "
                "(total_pixels / max_frames / window_seconds) or give the model more GPU memory."
            ) from error

    def _generate_batch(self, rows: Sequence[_Row], config: Any, *, cache: Any = None) -> list[Generation]:
        """One ``generate`` call with the ``GenerationConfig`` ``config``; ``cache`` holds the
        key/values of a prefix of the (single) row."""
        import torch

        built = _pad_rows(rows, self.pad_token_id)
        device = self.model.get_input_embeddings().weight.device
        input_ids = torch.from_numpy(built["input_ids"]).to(device)
        attention_mask = torch.from_numpy(built["attention_mask"]).to(device)
        position_ids = torch.from_numpy(built["position_ids"]).to(device)
        with torch.inference_mode():
            embeds = self.embed(input_ids, built["features"])
            out = self.model.generate(
                input_ids=input_ids,
                inputs_embeds=embeds,
                attention_mask=attention_mask,
                position_ids=position_ids,
                generation_config=config,
                # A cache holds a prefix with every video token: only then are visual inputs left out.
                **(self.visual_inputs(built["features"]) if cache is None else {self._cache_argument: cache}),
            )
        new_tokens = out[:, input_ids.shape[1] :].to("cpu")
        stop_ids = set(_as_list(self.model.generation_config.eos_token_id))
        results = []
        for b in range(len(rows)):
            tokens = new_tokens[b].tolist()
            used = next((i + 1 for i, t in enumerate(tokens) if t in stop_ids), len(tokens))
            text = self.tokenizer.decode(tokens[:used], skip_special_tokens=True)
            results.append(
                Generation(text=text, input_tokens=int(built["attention_mask"][b].sum()), output_tokens=used)
            )
        return results

    def _generation_config(self, max_new_tokens: int, options: GenerationOptions) -> Any:
        """The ``GenerationConfig`` of one call: ``options`` over the checkpoint's token IDs.

        Of the checkpoint's generation config only the token IDs always apply; its
        ``repetition_penalty`` applies when ``options.repetition_penalty`` is None (1.0 when absent),
        its ``temperature``/``top_p``/``top_k`` only when sampling and left None in ``options``.
        Everything else in it (its own ``do_sample``, ``max_length``, ...) is ignored.
        """
        from transformers import GenerationConfig

        shipped = self.model.generation_config
        penalty = options.repetition_penalty
        config: dict[str, Any] = {
            "max_new_tokens": max_new_tokens,
            "pad_token_id": self.pad_token_id,
            "eos_token_id": shipped.eos_token_id,
            "bos_token_id": shipped.bos_token_id,
            "do_sample": options.do_sample,
            "repetition_penalty": float(
                penalty if penalty is not None else shipped.repetition_penalty or 1.0
            ),
        }
        if options.do_sample:
            for name in ("temperature", "top_p", "top_k"):
                value = getattr(options, name)
                config[name] = value if value is not None else getattr(shipped, name)
        else:
            config.update(temperature=None, top_p=None, top_k=None)
        return GenerationConfig(**config)


@dataclass(frozen=True)
class _Row:
    ids: list[int]
    positions: np.ndarray  # (3, len(ids)) MRoPE positions
    features: list[Any]  # the embeddings of each window, in prompt order


def _pad_rows(rows: Sequence[_Row], pad_token_id: int) -> dict[str, Any]:
    input_ids, attention_mask = _inputs.left_pad([row.ids for row in rows], pad_token_id=pad_token_id)
    return {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "position_ids": _inputs.batch_positions(attention_mask, [row.positions for row in rows]),
        "features": [row.features for row in rows],
    }


def _as_list(value: Any) -> list[int]:
    if value is None:
        return []
    return [int(v) for v in value] if isinstance(value, (list, tuple)) else [int(value)]

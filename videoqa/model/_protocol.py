"""The seam between videoqa's pipeline and a vision-language model.

Everything above this seam (``Session``, strategies, the Ray job, evaluation) talks
to a :class:`VideoLanguageModel`; the real Qwen runner and the scripted stand-in
used in tests and the demo both implement it. Encoding is separate from generation
so that the vision encoder's output per window can be cached on disk and reused
for every later question on the same video.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from videoqa.model._timing import TemporalKind, temporal_ids
from videoqa.model.families import SamplingProfile
from videoqa.text._types import TimedText
from videoqa.video._types import Window

__all__ = [
    "Generation",
    "GenerationOptions",
    "GenerationRequest",
    "TemporalConfig",
    "TemporalKind",
    "VideoLanguageModel",
    "VisualFeatures",
]


@dataclass(frozen=True)
class TemporalConfig:
    """How a model turns a window's frames into MRoPE temporal position IDs."""

    kind: TemporalKind
    """``"absolute_time"`` (Qwen2.5-VL: IDs follow seconds), ``"patch_index"`` (Qwen2-VL) or
    ``"timestamp_text"`` (Qwen3-VL: a ``<t seconds>`` text before each temporal patch)."""
    tokens_per_second: float
    """Temporal IDs per second of video (Qwen2.5-VL checkpoints use 2, i.e. 0.5 s per ID)."""
    temporal_patch_size: int = 2

    def temporal_ids(self, window: Window) -> np.ndarray:
        """:func:`videoqa.temporal_ids` of ``window`` under this config, relative to its start."""
        return temporal_ids(
            window,
            tokens_per_second=self.tokens_per_second,
            temporal_patch_size=self.temporal_patch_size,
            kind=self.kind,
        )


@dataclass
class VisualFeatures:
    """What a model's vision side made of one window; cacheable, model-specific ``data``."""

    window: Window
    pts_seconds: np.ndarray
    """True presentation time of each frame that was encoded."""
    data: Any
    """Model-specific payload, a dataclass (cacheable): ``QwenWindowFeatures`` for the Qwen runner,
    per-frame facts for the scripted model."""
    warnings: list[str] = field(default_factory=list)
    stale_targets: tuple[int, ...] = ()
    """Targets whose frame is far from its instant (damage or past the end): see ``Clip.stale_targets``."""


@dataclass(frozen=True)
class GenerationRequest:
    """One prompt about one or more encoded windows (in time order)."""

    features: tuple[VisualFeatures, ...]
    prompt: str
    system_prompt: str | None = None
    """A system message before the user turn; None leaves the chat template's default."""
    timed_text: TimedText | None = None
    """Subtitles / transcript cues inside the windows, written in the family's layout (videoqa.text)."""


@dataclass(frozen=True)
class GenerationOptions:
    """How a model picks its tokens. ``None`` leaves a field to the checkpoint's generation config.

    The defaults are greedy decoding; ``temperature``, ``top_p`` and ``top_k`` only matter with
    ``do_sample=True``. :class:`videoqa.core.settings.Settings` fills every field a user can set.
    """

    do_sample: bool = False
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    repetition_penalty: float | None = None


@dataclass(frozen=True)
class Generation:
    text: str
    input_tokens: int
    output_tokens: int
    cached_prefix_tokens: int = 0
    """Prompt tokens taken from a prefix prefilled for another request of the same call (not computed)."""


@runtime_checkable
class VideoLanguageModel(Protocol):
    model_id: str
    temporal: TemporalConfig
    sampling: SamplingProfile
    """The family's sampling needs (its declaration's, :mod:`videoqa.model.families`)."""

    def fingerprint(self) -> str:
        """A stable string naming the weights and preprocessing; part of every cache key."""
        ...

    def encode(self, clip: Any) -> VisualFeatures:
        """Run the vision side on one decoded :class:`~videoqa.video.Clip`."""
        ...

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        *,
        max_new_tokens: int,
        options: GenerationOptions | None = None,
    ) -> list[Generation]:
        """Answer the requests; one :class:`Generation` per request, in order.

        The model splits them into forward batches as it sees fit; ``options=None`` is greedy.
        """
        ...

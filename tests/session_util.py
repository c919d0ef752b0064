"""Shared by the session tests: cached generated videos, a decode spy and scripted models that record."""

from __future__ import annotations

from pathlib import Path

from tests.media import CACHE_DIR
from videoqa.model._protocol import Generation, GenerationOptions
from videoqa.model._scripted import ScriptedModel
from videoqa.synthetic import Event, write_video_once

SMALL = {"min_pixels": 8 * 28 * 28, "max_pixels": 8 * 28 * 28}
RED = "When is the red square shown?"


def cached_video(name: str, **write_kwargs) -> Path:
    """A test video generated once into tests/.media-cache (built under a temporary name, then renamed)."""
    return write_video_once(CACHE_DIR / f"session-v1-{name}", **write_kwargs)


def long_red_blue_video() -> Path:
    """Two hours at 2 fps: a red square at 37-44.5 s and a blue one at 5437-5444.5 s."""
    return cached_video(
        "long-red-blue.mp4",
        duration_seconds=7200.0,
        fps=2,
        width=112,
        height=64,
        gop_seconds=10.0,
        events=(Event(37.0, 44.5, "red"), Event(5437.0, 5444.5, "blue")),
    )


def spy_decode(monkeypatch) -> list[list[int]]:
    """Record the window indices of every videoqa.decode call made through the session's seam."""
    import videoqa.video as media

    calls: list[list[int]] = []
    real = media.decode

    def spy(source, plan, **kwargs):
        calls.append([w.index for w in plan.windows])
        return real(source, plan, **kwargs)

    monkeypatch.setattr(media, "decode", spy)
    return calls


class RecordingModel(ScriptedModel):
    """The scripted model, recording the size of each generate() batch."""

    def __init__(self):
        super().__init__()
        self.batches: list[int] = []
        self.calls: list[tuple[int, GenerationOptions | None]] = []

    def generate(self, requests, *, max_new_tokens, options=None):
        self.batches.append(len(requests))
        self.calls.append((max_new_tokens, options))
        return super().generate(requests, max_new_tokens=max_new_tokens)


class FixedTextModel(ScriptedModel):
    """Encodes like the scripted model but always answers ``text``."""

    def __init__(self, text: str, drop: bool = False):
        super().__init__()
        self.text, self.drop = text, drop

    def generate(self, requests, *, max_new_tokens, options=None):
        out = [Generation(self.text, 1, 1) for _ in requests]
        return out[:-1] if self.drop else out

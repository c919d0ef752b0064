"""Data of the tiny grounder's training: synthetic videos planned, decoded and tokenised by videoqa's
own plan / decode / model-input path (see ``train_tiny_grounder.py``, whose docstring is the command)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from grounder_hint import number_spans, patch_targets

from videoqa.core.prompts import grounding_prompt
from videoqa.model._grounder import GROUNDER_QUERY as QUERY
from videoqa.model._grounder import GROUNDER_SETTINGS
from videoqa.synthetic import PALETTE, Event, write_video

DATA_VERSION = 2
"""Bumped whenever the generated data changes (names the ``--data-cache`` files)."""
COLORS = tuple(PALETTE)
NO_EVENT = "The event does not occur in this video."


def answer_numbers(span: tuple[float, float]) -> tuple[str, str]:
    """The start and end as the answer writes them: rounded to 0.5 s, one decimal."""
    a, b = (round(x * 2) / 2 for x in span)
    return f"{a:.1f}", f"{b:.1f}"


def answer_text(span: tuple[float, float] | None) -> str:
    """The training target: cookbook format, times rounded to 0.5 s, or the no-event sentence."""
    if span is None:
        return NO_EVENT
    a, b = answer_numbers(span)
    return f"The event happens in {a} - {b} seconds."


def corpus() -> str:
    lines = [grounding_prompt(QUERY.format(color=c)) for c in COLORS]
    lines += [answer_text((s / 2, s / 2 + 7.5)) for s in range(0, 1200, 7)]
    lines += [NO_EVENT, "You are a helpful assistant."]
    return "\n".join(lines * 3)


@dataclass
class Example:
    window_key: int
    prompt_ids: list[int]
    positions: np.ndarray  # (3, L) of prompt + answer
    labels: list[int]  # answer token ids (incl. <|im_end|>)
    kind: str
    present: bool
    color_token: int = -1
    """Index of the asked colour's word in ``prompt_ids``."""
    hint: tuple | None = None
    """(start-number tokens, end-number tokens, (start patches, end patches), temporal patches,
    patches showing the colour); None when the colour is not shown."""


@dataclass
class CachedWindow:
    window: object
    frames: np.ndarray  # uint8 (T, H, W, 3)
    kind: str
    truths: dict[str, tuple[float, float] | None]
    pixels: Any = None  # the processor's pixel values (set by attach_pixels, not cached on disk)
    grid: tuple[int, int, int] | None = None

    def patch_labels(self, *, onsets: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Auxiliary targets per temporal patch: digits of its start time (hundreds, tens, units,
        half second); per colour whether its frames show it, whether it starts showing here (not
        in the patch before) and whether it stopped showing here (shown in the patch before)."""
        w = self.window
        grid_t = w.num_frames // w.temporal_patch_size
        start = np.arange(grid_t) * w.second_per_grid
        halves = np.round(start * 2).astype(np.int64)
        digits = np.stack([halves // 200 % 10, halves // 20 % 10, halves // 2 % 10, halves % 2], axis=1)
        rel = np.asarray(w.pts_seconds) - w.start_seconds
        colors = np.zeros((grid_t, len(COLORS)), dtype=np.float32)
        for c, truth in enumerate(self.truths.values()):
            if truth is not None:
                shown = (rel >= truth[0]) & (rel < truth[1])
                colors[:, c] = shown.reshape(grid_t, -1).any(axis=1)
        if not onsets:
            return digits, colors
        before = np.concatenate([np.zeros_like(colors[:1]), colors[:-1]])
        onsets, offsets = colors * (1 - before), (1 - colors) * before
        return digits, np.concatenate([colors, onsets, offsets], axis=1)


def random_events(rng: random.Random, duration: float, *, max_len: float) -> list[Event]:
    events = []
    for color in rng.sample(COLORS, rng.randint(1, 4)):
        length = rng.uniform(3.0, min(max_len, duration / 3))
        start = rng.uniform(0.0, duration - length)
        events.append(Event(round(start, 2), round(start + length, 2), color))
    return events


def window_truths(window, events: list[Event]) -> dict[str, tuple[float, float] | None] | None:
    """Window-relative truth per colour; None when an event only grazes the window (ambiguous)."""
    truths: dict[str, tuple[float, float] | None] = {c: None for c in COLORS}
    step = 1.0 / window.sampled_fps
    for e in events:
        a, b = max(e.start_seconds, window.start_seconds), min(e.end_seconds, window.end_seconds)
        if b <= a:
            continue
        if b - a < 2 * step and (a > e.start_seconds or b < e.end_seconds):
            return None
        truths[e.color] = (a - window.start_seconds, b - window.start_seconds)
    return truths


def plans_for(info, events, rng: random.Random, *, long: bool):
    import videoqa
    from videoqa.core.settings import Settings

    settings = Settings(**GROUNDER_SETTINGS)
    budgets = settings.budgets()
    out = []
    if long:
        out.append(("coarse", videoqa.plan_sampling(info, fps=0.5, window_seconds=600.0, **budgets)))
    else:
        fps = rng.choice([0.5, 1.0, 1.0, 2.0])
        out.append(("single", videoqa.plan_sampling(info, fps=fps, **budgets)))
    for e in events:
        a = max(info.start_seconds, e.start_seconds - rng.uniform(1.0, 10.0))
        b = min(info.end_seconds, e.end_seconds + rng.uniform(1.0, 10.0))
        out.append(("fine", videoqa.plan_sampling(info, fps=2.0, start_seconds=a, end_seconds=b, **budgets)))
    return out


def make_windows(workdir: Path, count: int, *, seed: int, long_share: float) -> list[CachedWindow]:
    import videoqa

    rng = random.Random(seed)
    cached: list[CachedWindow] = []
    for n in range(count):
        long = rng.random() < long_share
        duration = rng.uniform(620.0, 1300.0) if long else rng.uniform(24.0, 150.0)
        fps = rng.choice([1.0, 2.0]) if long else rng.choice([2.0, 3.0, 4.0, 5.0])
        events = random_events(rng, duration, max_len=40.0 if long else 30.0)
        path = workdir / f"v{n}.mp4"
        size = rng.choice([(160, 90), (160, 90), (192, 108), (128, 72)])
        write_video(path, duration_seconds=duration, fps=fps, width=size[0], height=size[1], events=events)
        info = videoqa.probe(str(path))
        for kind, plan in plans_for(info, events, rng, long=long):
            for clip in videoqa.decode(str(path), plan):
                truths = window_truths(clip.window, events)
                if truths is not None:
                    cached.append(CachedWindow(clip.window, np.ascontiguousarray(clip.frames), kind, truths))
        path.unlink()
    return cached


def cached_windows(work: Path, args, count: int, *, seed: int) -> list[CachedWindow]:
    """:func:`make_windows`, kept in ``--data-cache`` (a pickle per seed and size) when given."""
    import pickle

    if not args.data_cache:
        return make_windows(work, count, seed=seed, long_share=args.long_share)
    path = Path(args.data_cache) / f"windows-v{DATA_VERSION}-{seed}-{count}-{args.long_share}.pkl"
    if path.is_file():
        return pickle.loads(path.read_bytes())
    made = make_windows(work, count, seed=seed, long_share=args.long_share)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(made))
    return made


def attach_pixels(runner, windows: list[CachedWindow]) -> None:
    """Run the checkpoint's video processor once per window (what ``encode`` does at inference)."""
    for cw in windows:
        cw.pixels, cw.grid = runner.preprocess(cw.frames)


def build_examples(runner, windows: list[CachedWindow]) -> list[Example]:
    """Token ids and MRoPE positions exactly as the runner builds them for inference, plus the answer."""
    import torch

    from videoqa.model._protocol import GenerationRequest, VisualFeatures
    from videoqa.model._qwen import QwenWindowFeatures

    tok = runner.tokenizer
    end_id = tok.convert_tokens_to_ids("<|im_end|>")
    examples = []
    for key, cw in enumerate(windows):
        w = cw.window
        data = QwenWindowFeatures(
            embeddings=torch.zeros(w.visual_tokens, 1),
            grid_thw=w.grid_thw,
            second_per_grid=float(w.second_per_grid),
            fingerprint=runner.fingerprint(),
        )
        feats = VisualFeatures(window=w, pts_seconds=np.asarray(w.pts_seconds), data=data)
        for color, truth in cw.truths.items():
            prompt = grounding_prompt(QUERY.format(color=color))
            row = runner._build_row(0, GenerationRequest(features=(feats,), prompt=prompt))
            text = answer_text(truth)
            answer = [*tok(text)["input_ids"], end_id]
            hint = None
            if truth is not None:
                shown = cw.patch_labels(onsets=False)[1][:, COLORS.index(color)] > 0.5
                targets = patch_targets(shown)
                spans = number_spans(tok, text, answer_numbers(truth))
                hint = None if targets is None else (*spans, targets, len(shown), np.flatnonzero(shown))
            last = int(row.positions[:, -1].max())
            tail = np.arange(last + 1, last + 1 + len(answer), dtype=np.int64)
            positions = np.concatenate([row.positions, np.stack([tail] * 3)], axis=1)
            word = tok(f" {color}")["input_ids"]
            at = max(i for i in range(len(row.ids)) if list(row.ids[i : i + len(word)]) == word)
            examples.append(
                Example(key, list(row.ids), positions, answer, cw.kind, truth is not None, at, hint)
            )
    return examples


# ------------------------------------------------------------------------------------------ train

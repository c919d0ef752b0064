"""Train the tiny grounder (a tiny Qwen2.5-VL) on synthetic coloured-square videos, on CPU (issue 17).

Run from the repository root, in two stages (3,500 steps from scratch, then 2,000 more from that
checkpoint with a new schedule; about 30 + 15 minutes on 2 CPU cores; each prints its learning
curve; ``--data-cache DIR`` keeps the decoded windows for the next run)::

    PYTHONPATH=$PWD python training/train_tiny_grounder.py --output /tmp/grounder-stage1 \
        --data-cache /tmp/gr-cache
    PYTHONPATH=$PWD python training/train_tiny_grounder.py --init /tmp/grounder-stage1 --steps 2000 \
        --lr 2e-3 --output /tmp/tiny-grounder --data-cache /tmp/gr-cache

The shipped ``builtin:tiny-grounder`` (``videoqa/model/tiny_grounder/``) is the second command's
output; ``python benchmarks/grounder.py --model /tmp/tiny-grounder`` measures a checkpoint through
the unchanged runner (figures in benchmarks/README.md, "Tiny grounder").

What it does, with a fixed seed (``--seed 0``, 2 torch threads):

1. builds an untrained checkpoint (Qwen2.5-VL config and classes, 1.17 M parameters, a byte-level
   BPE tokenizer trained on the prompts with Qwen2's pre-tokenizer (every word one token, digits
   one token each), the real processor; ``mrope_section`` [12, 2, 2] so time gets 12 of the 16
   rotary frequencies) and loads it with ``videoqa.load_model``, the path every checkpoint takes;
2. writes 500 synthetic videos with :func:`videoqa.synthetic.write_video` (random durations, source
   fps, sizes and 1-4 coloured-square events) and plans them as inference does, with the
   grounder's settings (``Settings.for_model("builtin:tiny-grounder")``: 28 x 56 frames): a
   ``single`` window at 0.5, 1 or 2 fps on 24-150 s videos, ``coarse`` 600 s windows at 0.5 fps on
   10-22 minute videos, and ``fine`` 2 fps windows around each event (random padding, so windows
   start mid-video); decodes each window once with :func:`videoqa.decode` and runs the checkpoint's
   video processor on it once;
3. per (window, colour) builds the prompt, token ids and MRoPE position ids with the runner's own
   ``_build_row`` (``videoqa.temporal_ids`` of the window), appends the answer (the truth relative
   to the window, rounded to 0.5 s, in the cookbook format; or "The event does not occur in this
   video.") and trains the vision tower and the language model together with AdamW (cosine
   schedule). A batch holds 4 windows, each with every colour it shows and absent colours up to 5
   questions; a window's questions share one forward of their common prefix (the video block),
   continued per question from its key/value cache, as prefix reuse does at inference;
4. two losses used in training only (their heads and hooks are not saved): every video token,
   after the second decoder layer, is asked for the digits of its patch's start time and, per
   colour, whether its frames show it, start or stop showing it (the tokens can only learn their
   time from the MRoPE phases against the tokens before the video); and one attention head of the
   last layer is asked to look, where the answer writes the start (end) number, at the first (last)
   patch showing the asked colour (``training/grounder_hint.py``);
5. prints train and held-out losses and accuracies every ``--log-every`` steps and, every
   ``--eval-every`` steps, greedy answers on held-out windows through ``encode``/``generate``
   (mIoU, R@0.5, absent colours said absent); saves the checkpoint (float32 safetensors).
"""

from __future__ import annotations

import argparse
import math
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from grounder_data import (
    COLORS,
    QUERY,
    CachedWindow,
    Example,
    attach_pixels,
    build_examples,
    cached_windows,
    corpus,
)
from grounder_hint import AttentionProbe, hint_loss

from videoqa.core.prompts import grounding_prompt
from videoqa.model._grounder import GROUNDER_SETTINGS


def build_untrained(path: Path, *, seed: int, hidden: int, layers: int, vision_hidden: int) -> None:
    import torch
    from transformers import GenerationConfig, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    from videoqa.model._tiny import _tiny_processor, _train_tokenizer
    from videoqa.model._tiny_common import qwen25_vision_config, special_token_ids

    tokenizer = _train_tokenizer(vocab_size=640, corpus=corpus())  # saturates: every word one token
    text_ids, vision_ids = special_token_ids(tokenizer)
    heads = hidden // 32
    text = {
        "vocab_size": -(-len(tokenizer) // 64) * 64,
        "hidden_size": hidden,
        "intermediate_size": 3 * hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": heads,
        "max_position_embeddings": 32768,
        "rms_norm_eps": 1e-6,
        "tie_word_embeddings": True,
        # head_dim 32: 16 rotary frequencies; time gets 12 of them (periods 6 to 17,000 ids at theta 1e5)
        "rope_parameters": {"rope_type": "default", "rope_theta": 1e5, "mrope_section": [12, 2, 2]},
        **text_ids,
    }
    vision = qwen25_vision_config(hidden_size=vision_hidden, out_hidden_size=hidden)
    config = Qwen2_5_VLConfig(
        text_config=text,
        vision_config=vision,
        tie_word_embeddings=True,
        **vision_ids,
    )
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=text["bos_token_id"],
        eos_token_id=[text["eos_token_id"], text["bos_token_id"]],
        pad_token_id=text["pad_token_id"],
        do_sample=False,
    )
    model.save_pretrained(path)
    processor = _tiny_processor("qwen2.5-vl", tokenizer)
    size = {"shortest_edge": GROUNDER_SETTINGS["min_pixels"], "longest_edge": GROUNDER_SETTINGS["max_pixels"]}
    processor.video_processor.size = size
    processor.image_processor.size = size
    processor.save_pretrained(path)


# ------------------------------------------------------------------------------------------- data


AUX_LAYER = 2
"""Hidden states after this many decoder layers carry the auxiliary targets of the video tokens."""


def aux_heads(hidden: int, *, onsets: bool):
    import torch

    return torch.nn.ModuleDict(
        {
            "digits": torch.nn.Linear(hidden, 3 * 10 + 2),
            "colors": torch.nn.Linear(hidden, (3 if onsets else 1) * len(COLORS)),
        }
    )


def aux_loss(heads, x, cw: CachedWindow):
    """Dense supervision of every video token ``x`` (its hidden state after ``AUX_LAYER`` layers):
    the digits of its patch's start time and its colours (shown, starting, stopped), the facts an
    answer token needs to copy the digits of an event's first patch and of the patch after its last.

    Used only in training (the heads are not saved): it teaches the vision tokens to carry their own
    time, which they can only learn from the MRoPE phases against the tokens before the video.
    """
    import torch

    digits, colors = cw.patch_labels(onsets=heads["colors"].out_features > len(COLORS))
    per_patch = x.shape[0] // len(digits)
    digits = torch.from_numpy(np.repeat(digits, per_patch, axis=0))
    colors = torch.from_numpy(np.repeat(colors, per_patch, axis=0))
    out = heads["digits"](x)
    ce = torch.nn.functional.cross_entropy
    parts = [out[:, 10 * i : 10 * i + 10] for i in range(3)] + [out[:, 30:]]
    loss = sum(ce(part, digits[:, i]) for i, part in enumerate(parts)) / 4
    color_logits = heads["colors"](x)
    loss = loss + torch.nn.functional.binary_cross_entropy_with_logits(color_logits, colors)
    with torch.no_grad():
        right = torch.stack([p.argmax(-1) == digits[:, i] for i, p in enumerate(parts)])
        time_acc = float(right.all(0).float().mean())
        color_acc = float(((color_logits > 0) == (colors > 0.5)).all(-1).float().mean())
    return loss, {"time": time_acc, "colour": color_acc}


def batch_loss(runner, windows, examples: list[Example], *, train: bool, heads=None, hint=None):
    """Answer-token cross-entropy (+ the auxiliary loss with ``heads``) and token accuracy of ``examples``.

    The questions about one window share one forward of their common prefix (system prompt, video
    block, the question's first words), continued per question from a copy of its key/value cache,
    as the runner's prefix reuse does at inference: many questions per window for the price of one.
    """

    groups: dict[int, list[Example]] = {}
    for e in examples:
        groups.setdefault(e.window_key, []).append(e)
    total, count, right, aux_total, aux_metrics, hint_losses = 0.0, 0, 0, 0.0, [], []
    for key, group in groups.items():
        loss_sum, n_tokens, n_right, states, hinted = window_loss(
            runner, windows[key], group, heads=heads, hint=hint
        )
        if hinted is not None:
            hint_losses.append(hinted)
        total, count, right = total + loss_sum, count + n_tokens, right + n_right
        if heads is not None:
            aux, metrics = aux_loss(heads, states, windows[key])
            aux_total = aux_total + aux
            aux_metrics.append(metrics)
    loss = total / count
    metrics = {"answer_loss": float(loss.detach()), "tok_acc": right / count}
    if heads is not None:
        loss = loss + aux_total / len(groups)
        metrics.update({k: float(np.mean([m[k] for m in aux_metrics])) for k in aux_metrics[0]})
    if hint_losses:
        mean_hint = sum(hint_losses) / len(hint_losses)
        loss = loss + hint[2] * mean_hint
        metrics["hint"] = float(mean_hint.detach())
    return loss, metrics


def cache_argument(model) -> str:
    """The forward argument of a key/value cache: ``cache`` (newer transformers) or ``past_key_values``."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def window_loss(runner, cw: CachedWindow, group: list[Example], *, heads=None, hint=None):
    """(summed answer cross-entropy, answer tokens, tokens right, prefix hidden states after
    ``AUX_LAYER`` layers) of the questions ``group`` about one window."""
    import torch

    model = runner.model
    prompts = [e.prompt_ids for e in group]
    common = min(len(p) for p in prompts) - 1  # at least the last prompt token is in every suffix
    for i in range(common):
        if any(p[i] != prompts[0][i] for p in prompts):
            common = i
            break
    out = model.model.get_video_features(cw.pixels, torch.tensor([cw.grid]), return_dict=True)
    video = torch.cat(list(out.pooler_output), dim=0)
    ids = torch.tensor([prompts[0][:common]])
    embeds = model.get_input_embeddings()(ids)
    embeds = embeds.masked_scatter((ids == runner.video_token_id).unsqueeze(-1), video)
    prefix = model(
        inputs_embeds=embeds,
        position_ids=torch.from_numpy(group[0].positions[:, None, :common]),
        use_cache=True,
        output_hidden_states=heads is not None,
    )
    cache = prefix.get("cache", None) or prefix.get("past_key_values")
    cache.batch_repeat_interleave(len(group))
    rows = [e.prompt_ids[common:] + e.labels for e in group]
    width = max(len(r) for r in rows)
    suffix = torch.full((len(group), width), runner.pad_token_id)
    mask = torch.zeros((len(group), common + width), dtype=torch.long)
    mask[:, :common] = 1
    positions = np.zeros((3, len(group), width), dtype=np.int64)
    labels = torch.full((len(group), width), -100)
    for b, (e, row) in enumerate(zip(group, rows, strict=True)):
        suffix[b, : len(row)] = torch.tensor(row)
        mask[b, common : common + len(row)] = 1
        positions[:, b, : len(row)] = e.positions[:, common:]
        positions[:, b, len(row) :] = e.positions[:, -1:]
        labels[b, len(row) - len(e.labels) : len(row)] = torch.tensor(e.labels)
    logits = model(
        input_ids=suffix,
        attention_mask=mask,
        position_ids=torch.from_numpy(positions),
        use_cache=True,
        **{cache_argument(model): cache},
    ).logits
    pred, gold = logits[:, :-1], labels[:, 1:]
    loss_sum = torch.nn.functional.cross_entropy(
        pred.reshape(-1, pred.shape[-1]), gold.reshape(-1), reduction="sum"
    )
    keep = gold != -100
    n_right = int((pred.argmax(-1)[keep] == gold[keep]).sum())
    states = prefix.hidden_states[AUX_LAYER][0] if heads is not None else None
    states = None if states is None else states[ids[0] == runner.video_token_id]
    hinted = None
    if hint is not None:
        probes, heads_hinted, _weight = hint
        hinted = hint_loss(
            probes,
            heads_hinted,
            cache,
            prefix_ids=prompts[0][:common],
            suffix_mask=mask[:, common:],
            group=group,
            suffix_lengths=[len(r) for r in rows],
            video_token_id=runner.video_token_id,
            sink_token_id=runner.tokenizer.convert_tokens_to_ids("<|vision_start|>"),
        )
    return loss_sum, int(keep.sum()), n_right, states, hinted


def sample_batch(rng: random.Random, by_window: dict[int, list[Example]], *, windows: int, per_window: int):
    """``windows`` random windows, each with ``per_window`` questions: every colour it shows, then
    colours it does not show (all seven colours with the default)."""
    batch = []
    for k in rng.sample(sorted(by_window), windows):
        group = by_window[k]
        present = [e for e in group if e.present]
        absent = [e for e in group if not e.present]
        batch += present[:per_window] + rng.sample(
            absent, max(0, min(len(absent), per_window - len(present)))
        )
    return batch


def train(args) -> None:
    import torch

    import videoqa

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="grounder-train-"))
    try:
        ckpt = work / "init"
        if args.init:  # a second stage: continue from a checkpoint of this recipe (same tokenizer)
            shutil.copytree(args.init, ckpt)
        else:
            build_untrained(
                ckpt, seed=args.seed, hidden=args.hidden, layers=args.layers, vision_hidden=args.vision_hidden
            )
        runner = videoqa.load_model(str(ckpt), device="cpu", dtype="float32", attn_implementation="sdpa")
        t0 = time.perf_counter()
        windows = cached_windows(work, args, args.videos, seed=args.seed)
        held = cached_windows(work, args, args.heldout_videos, seed=args.seed + 10_000)
        if args.skip_coarse:
            windows = [w for w in windows if w.kind != "coarse"]
            held = [w for w in held if w.kind != "coarse"]
        attach_pixels(runner, windows + held)
        examples = build_examples(runner, windows)
        held_examples = build_examples(runner, held)
        n_params = sum(p.numel() for p in runner.model.parameters())
        print(
            f"data: {len(windows)} windows, {len(examples)} examples "
            f"(held-out {len(held)} / {len(held_examples)}) "
            f"in {time.perf_counter() - t0:.0f} s; model {n_params / 1e6:.2f} M parameters",
            flush=True,
        )
        by_window: dict[int, list[Example]] = {}
        for e in examples:
            by_window.setdefault(e.window_key, []).append(e)
        model = runner.model
        model.train()
        heads = aux_heads(args.hidden, onsets=bool(args.aux_onsets)) if args.aux else None
        hint = None
        if args.hint_weight > 0:
            probes = (AttentionProbe(model, args.colour_hint_layer), AttentionProbe(model, args.hint_layer))
            hint = (probes, (args.hint_head, args.hint_head), args.hint_weight)
        params = list(model.parameters()) + (list(heads.parameters()) if heads is not None else [])
        opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01, betas=(0.9, 0.98))
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt,
            lambda s: (
                min(1.0, (s + 1) / args.warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / args.steps)))
            ),
        )
        t0, running = time.perf_counter(), {}
        held_rng = random.Random(args.seed + 1)
        held_batch = held_rng.sample(held_examples, min(64, len(held_examples)))
        for step in range(1, args.steps + 1):
            batch = sample_batch(rng, by_window, windows=args.batch_windows, per_window=args.per_window)
            loss, metrics = batch_loss(runner, windows, batch, train=True, heads=heads, hint=hint)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            for name, value in metrics.items():
                running.setdefault(name, []).append(value)
            if step % args.log_every == 0 or step == args.steps:
                model.eval()
                with torch.no_grad():
                    hl, ha = evaluate(runner, held, held_batch)
                gen = (
                    generated_scores(runner, held)
                    if step % args.eval_every == 0 or step == args.steps
                    else None
                )
                model.train()
                train_text = "  ".join(f"{k} {np.mean(v):.3f}" for k, v in running.items())
                print(
                    f"step {step:5d}  {time.perf_counter() - t0:6.0f} s  train {train_text}  "
                    f"held-out loss {hl:.3f} tok-acc {ha:.3f}"
                    + (
                        f"  held-out mIoU {gen['miou']:.3f} R@0.5 {gen['r05']:.3f} "
                        f"absent {gen['absent_acc']:.2f}"
                        if gen
                        else ""
                    ),
                    flush=True,
                )
                running = {}
                if gen:  # a checkpoint at every generation eval, overwritten by the final one
                    save(runner, ckpt, Path(args.output))
        model.eval()
        save(runner, ckpt, Path(args.output))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def generated_scores(
    runner, windows: list[CachedWindow], *, limit: int = 60, seed: int = 1
) -> dict[str, float]:
    """Greedy answers through the runner's own encode/generate on held-out windows.

    Returns mIoU and R@0.5 over colours shown, and the share of absent colours said to be absent."""
    import torch

    from videoqa.core.parsing import parse_spans
    from videoqa.model._protocol import GenerationRequest
    from videoqa.video._types import Clip

    rng = random.Random(seed)
    queries = [(k, c) for k, cw in enumerate(windows) for c, t in cw.truths.items() if t is not None]
    absent = [(k, c) for k, cw in enumerate(windows) for c, t in cw.truths.items() if t is None]
    queries = rng.sample(queries, min(limit, len(queries)))
    absent = rng.sample(absent, min(limit // 3, len(absent)))
    with torch.no_grad():
        feats = {}
        for k in {k for k, _ in queries + absent}:
            cw = windows[k]
            feats[k] = runner.encode(Clip(cw.window, cw.frames, np.asarray(cw.window.pts_seconds)))
        requests = [
            GenerationRequest(features=(feats[k],), prompt=grounding_prompt(QUERY.format(color=c)))
            for k, c in queries + absent
        ]
        texts = [g.text for g in runner.generate(requests, max_new_tokens=24)]
    ious, said_absent = [], []
    for (k, c), text in zip(queries + absent, texts, strict=True):
        parsed = parse_spans(text)
        truth = windows[k].truths[c]
        if truth is None:
            said_absent.append(parsed.absent)
            continue
        if not parsed.spans:
            ious.append(0.0)
            continue
        a, b = sorted((parsed.spans[0].start_seconds, parsed.spans[0].end_seconds))
        inter = max(0.0, min(b, truth[1]) - max(a, truth[0]))
        union = max(b, truth[1]) - min(a, truth[0])
        ious.append(inter / union if union > 0 else 0.0)
    return {
        "miou": float(np.mean(ious)),
        "r05": float(np.mean([i >= 0.5 for i in ious])),
        "absent_acc": float(np.mean(said_absent)) if said_absent else float("nan"),
    }


def evaluate(runner, windows, examples, chunk: int = 16):
    losses, accs = [], []
    for i in range(0, len(examples), chunk):
        loss, metrics = batch_loss(runner, windows, examples[i : i + chunk], train=False)
        losses.append(float(loss))
        accs.append(metrics["tok_acc"])
    return float(np.mean(losses)), float(np.mean(accs))


def save(runner, init: Path, output: Path) -> None:
    output.mkdir(parents=True, exist_ok=True)
    for old in output.glob("*"):
        if old.is_file():
            old.unlink()
    runner.model.save_pretrained(output)
    for f in init.iterdir():
        if f.is_file() and not (output / f.name).exists():
            shutil.copyfile(f, output / f.name)
    print(f"saved {output} ({sum(f.stat().st_size for f in output.iterdir()) / 1e6:.1f} MB)")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--output", required=True)
    p.add_argument("--init", default=None, help="continue from this checkpoint (a second stage)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--videos", type=int, default=500)
    p.add_argument("--heldout-videos", type=int, default=16)
    p.add_argument("--long-share", type=float, default=0.15)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--vision-hidden", type=int, default=64)
    p.add_argument("--steps", type=int, default=3500)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--batch-windows", type=int, default=4)
    p.add_argument("--per-window", type=int, default=5)
    p.add_argument("--log-every", type=int, default=100)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--hint-weight", type=float, default=1.0, help="weight of the attention hint (0: off)")
    p.add_argument("--hint-layer", type=int, default=3, help="decoder layer of the hinted head")
    p.add_argument("--colour-hint-layer", type=int, default=1, help="layer of the head hinted to the colour")
    p.add_argument("--hint-head", type=int, default=0, help="the hinted attention head of those layers")
    p.add_argument("--skip-coarse", type=int, default=0, help="1: leave the 600 s coarse windows out")
    p.add_argument("--data-cache", default=None, help="folder keeping the decoded windows between runs")
    p.add_argument("--aux", type=int, default=1, help="1: auxiliary time/colour loss on the video tokens")
    p.add_argument(
        "--aux-onsets", type=int, default=1, help="1: the auxiliary loss also asks for onsets/offsets"
    )
    train(p.parse_args(argv))


if __name__ == "__main__":
    main()

"""Train a tiny grounder (a tiny Qwen2.5-VL) on synthetic coloured-square videos, on CPU (issue 17).

Run from the repository root (1200 steps; 15-35 minutes on one shared CPU core, 0.65-1.7 s a step;
prints its learning curve; ``--data-cache DIR`` keeps the decoded windows for the next run)::

    PYTHONPATH=$PWD python training/train_tiny_grounder.py --output /tmp/tiny-grounder

Status (issue 17): NOT yet a working model. In every run so far (see benchmarks/README.md, "Tiny
grounder") the model learnt the answer format and the prior of the answers within 300 steps, then
stayed there: its answers do not depend on the video (held-out mIoU below the whole-video baseline).
Nothing is shipped in the package; ``benchmarks/grounder.py --model DIR`` measures a checkpoint.

What it does, with a fixed seed (``--seed 0``, one torch thread):

1. builds an untrained checkpoint (Qwen2.5-VL config and classes, 1.16 M parameters, a byte-level
   BPE tokenizer trained on the prompts, the real processor; ``mrope_section`` [12, 2, 2] so time
   gets 12 of the 16 rotary frequencies) and loads it with ``videoqa.load_model``, the path every
   checkpoint takes;
2. writes 250 synthetic videos with :func:`videoqa.synthetic.write_video` (random durations, source
   fps, sizes and coloured-square events) and plans them as inference does, with the grounder's
   frame budgets (28 x 56 frames): a ``single`` window at 0.5, 1 or 2 fps on 24-150 s videos,
   ``coarse`` 600 s windows at 0.5 fps on 10-22 minute videos (left out by ``--skip-coarse 1``, the
   default), and ``fine`` 2 fps windows around each event (random padding, so windows start
   mid-video); decodes each window once with :func:`videoqa.decode` and keeps the uint8 frames;
3. per (window, colour) builds the prompt, token ids and MRoPE position ids with the runner's own
   ``_build_row`` (``videoqa.temporal_ids`` of the window), appends the answer (the truth relative
   to the window, rounded to 0.5 s, in the cookbook format; or "The event does not occur in this
   video.") and trains the vision tower and the language model together with AdamW (cosine
   schedule), the frames going through the checkpoint's video processor at every step. Batches
   hold 4 windows of similar length with 3 questions each (60 % about a colour that is shown);
4. an auxiliary loss, used in training only, asks every video token after the second decoder layer
   for the digits of its patch's start time and, per colour, whether its frames show it, start or
   stop showing it (``--aux-onsets``): the tokens can only learn their time from the MRoPE phases
   against the tokens before the video;
5. prints train and held-out loss and token accuracy every ``--log-every`` steps and, every
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
    FRAME_SETTINGS,
    QUERY,
    CachedWindow,
    Example,
    build_examples,
    cached_windows,
    corpus,
)

from videoqa.core.prompts import grounding_prompt


def build_untrained(path: Path, *, seed: int, hidden: int, layers: int, vision_hidden: int) -> None:
    import torch
    from transformers import GenerationConfig, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    from videoqa.model._tiny import SPECIAL_TOKENS, _tiny_processor, _train_tokenizer

    tokenizer = _train_tokenizer(vocab_size=320, corpus=corpus())
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
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
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
    }
    vision = {
        "depth": 2,
        "hidden_size": vision_hidden,
        "intermediate_size": 2 * vision_hidden,
        "num_heads": 2,
        "out_hidden_size": hidden,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "tokens_per_second": 2,
        "window_size": 112,
        "fullatt_block_indexes": [1],
    }
    config = Qwen2_5_VLConfig(
        text_config=text,
        vision_config=vision,
        tie_word_embeddings=True,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
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
    size = {"shortest_edge": FRAME_SETTINGS["min_pixels"], "longest_edge": FRAME_SETTINGS["max_pixels"]}
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


def aux_loss(heads, states, ids_t, video_token_id: int, windows, examples):
    """Dense supervision of every video token: the digits of its patch's start time and its colours
    (shown, starting, stopped), the facts an answer token needs to copy the digits of an event's
    first patch and of the patch after its last.

    Used only in training (the heads are not saved): it teaches the vision tokens to carry their own
    time, which they can only learn from the MRoPE phases against the tokens before the video.
    """
    import torch

    digit_rows, color_rows = [], []
    for e in examples:
        cw = windows[e.window_key]
        digits, colors = cw.patch_labels(onsets=heads["colors"].out_features > len(COLORS))
        per_patch = cw.window.visual_tokens // len(digits)
        digit_rows.append(torch.from_numpy(np.repeat(digits, per_patch, axis=0)))
        color_rows.append(torch.from_numpy(np.repeat(colors, per_patch, axis=0)))
    x = states[ids_t == video_token_id]
    digits, colors = torch.cat(digit_rows), torch.cat(color_rows)
    out = heads["digits"](x)
    ce = torch.nn.functional.cross_entropy
    loss = sum(ce(out[:, 10 * i : 10 * i + 10], digits[:, i]) for i in range(3)) + ce(
        out[:, 30:], digits[:, 3]
    )
    loss = loss / 4 + torch.nn.functional.binary_cross_entropy_with_logits(heads["colors"](x), colors)
    return loss


def batch_loss(runner, windows, examples: list[Example], *, train: bool, heads=None):
    """Answer-token cross-entropy (+ the auxiliary loss with ``heads``) and token accuracy of ``examples``."""
    import torch

    from videoqa.model import _inputs

    model = runner.model
    keys = sorted({e.window_key for e in examples})
    embeds_of = {}
    for k in keys:
        pixels, grid = runner.preprocess(windows[k].frames)
        out = model.model.get_video_features(pixels, torch.tensor([grid]), return_dict=True)
        embeds_of[k] = torch.cat(list(out.pooler_output), dim=0)
    rows = [e.prompt_ids + e.labels for e in examples]
    ids, mask = _inputs.left_pad(rows, pad_token_id=runner.pad_token_id)
    positions = _inputs.batch_positions(mask, [e.positions for e in examples])
    ids_t = torch.from_numpy(ids)
    embeds = model.get_input_embeddings()(ids_t)
    video = ids_t == runner.video_token_id
    embeds = embeds.masked_scatter(
        video.unsqueeze(-1), torch.cat([embeds_of[e.window_key] for e in examples], dim=0)
    )
    labels = torch.full_like(ids_t, -100)
    for b, e in enumerate(examples):
        labels[b, ids.shape[1] - len(e.labels) :] = torch.tensor(e.labels)
    out = model(
        inputs_embeds=embeds,
        attention_mask=torch.from_numpy(mask),
        position_ids=torch.from_numpy(positions),
        use_cache=False,
        output_hidden_states=heads is not None,
    )
    logits = out.logits
    pred, gold = logits[:, :-1], labels[:, 1:]
    loss = torch.nn.functional.cross_entropy(pred.reshape(-1, pred.shape[-1]), gold.reshape(-1))
    keep = gold != -100
    acc = (pred.argmax(-1)[keep] == gold[keep]).float().mean()
    if heads is not None:
        aux = aux_loss(heads, out.hidden_states[AUX_LAYER], ids_t, runner.video_token_id, windows, examples)
        loss = loss + aux
    return loss, float(acc)


def sample_batch(
    rng: random.Random, by_window: dict[int, list[Example]], keys: list[int], *, windows: int, per_window: int
):
    """``windows`` windows of similar length (``keys`` is sorted by length: little padding), each with
    ``per_window`` questions, 60 % of them about a colour that is shown."""
    batch = []
    i = rng.randrange(len(keys))
    near = keys[max(0, i - 2 * windows) : i + 2 * windows]
    for k in rng.sample(near, min(windows, len(near))):
        group = by_window[k]
        present = [e for e in group if e.present]
        absent = [e for e in group if not e.present]
        for _ in range(per_window):
            pool = present if present and (rng.random() < 0.6 or not absent) else absent
            batch.append(rng.choice(pool))
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
        keys = sorted(by_window, key=lambda k: windows[k].window.visual_tokens)
        model = runner.model
        model.train()
        heads = aux_heads(args.hidden, onsets=bool(args.aux_onsets)) if args.aux else None
        params = list(model.parameters()) + (list(heads.parameters()) if heads is not None else [])
        opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01, betas=(0.9, 0.98))
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt,
            lambda s: (
                min(1.0, (s + 1) / args.warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / args.steps)))
            ),
        )
        t0, run_loss, run_acc = time.perf_counter(), 0.0, 0.0
        held_rng = random.Random(args.seed + 1)
        held_batch = held_rng.sample(held_examples, min(64, len(held_examples)))
        for step in range(1, args.steps + 1):
            batch = sample_batch(rng, by_window, keys, windows=args.batch_windows, per_window=args.per_window)
            loss, acc = batch_loss(runner, windows, batch, train=True, heads=heads)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            run_loss += float(loss.detach())
            run_acc += acc
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
                n = args.log_every if step % args.log_every == 0 else step % args.log_every
                print(
                    f"step {step:5d}  {time.perf_counter() - t0:6.0f} s  train loss {run_loss / n:.3f} "
                    f"tok-acc {run_acc / n:.3f}  held-out loss {hl:.3f} tok-acc {ha:.3f}"
                    + (
                        f"  held-out mIoU {gen['miou']:.3f} R@0.5 {gen['r05']:.3f} "
                        f"absent {gen['absent_acc']:.2f}"
                        if gen
                        else ""
                    ),
                    flush=True,
                )
                run_loss, run_acc = 0.0, 0.0
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
        loss, acc = batch_loss(runner, windows, examples[i : i + chunk], train=False)
        losses.append(float(loss))
        accs.append(acc)
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
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--videos", type=int, default=250)
    p.add_argument("--heldout-videos", type=int, default=16)
    p.add_argument("--long-share", type=float, default=0.15)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--vision-hidden", type=int, default=64)
    p.add_argument("--steps", type=int, default=1200)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--batch-windows", type=int, default=4)
    p.add_argument("--per-window", type=int, default=3)
    p.add_argument("--log-every", type=int, default=100)
    p.add_argument("--eval-every", type=int, default=400)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--skip-coarse", type=int, default=1, help="1: leave the 600 s coarse windows out")
    p.add_argument("--data-cache", default=None, help="folder keeping the decoded windows between runs")
    p.add_argument("--aux", type=int, default=1, help="1: auxiliary time/colour loss on the video tokens")
    p.add_argument(
        "--aux-onsets", type=int, default=1, help="1: the auxiliary loss also asks for onsets/offsets"
    )
    train(p.parse_args(argv))


if __name__ == "__main__":
    main()

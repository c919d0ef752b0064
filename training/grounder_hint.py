"""A training-only hint for the tiny grounder: where one attention head of the answer should look.

The answer's digits must be copied from the video tokens of the right temporal patches: the first
patch showing the asked colour for the start time, the last one showing it (or the first after it)
for the end time. Learned from the answer loss alone this retrieval is slow: at first the answer
attends evenly over hundreds of video tokens, so the gradient towards the right two is tiny, and
the asked colour (a word of the question) must meet the colour seen in the frames. This loss asks
one head of an early layer to look at the asked colour's word from every answer position, and one
head of the last layer to put its attention, at the positions that write the start (end) number,
on those patches' tokens: ``-log`` of the attention mass there. The head keeps learning its
own queries and keys through the real MRoPE rotation; only the ordinary weights are saved.
"""

from __future__ import annotations

import math

import numpy as np

PRESENCE_TOKEN = 2
"""Index of the answer token that says whether the event occurs: "The event happens" / "does"."""


class AttentionProbe:
    """Keeps the inputs of one decoder layer's self-attention (a forward pre-hook) during a forward."""

    def __init__(self, model, layer: int):
        self.layer = layer
        self.attn = model.model.language_model.layers[layer].self_attn
        self.inputs = None
        self.attn.register_forward_pre_hook(self._keep, with_kwargs=True)

    def _keep(self, module, args, kwargs):
        hidden = kwargs.get("hidden_states", args[0] if args else None)
        self.inputs = (hidden, kwargs["position_embeddings"])

    def attention_rows(self, rows: list[tuple[int, int]], head: int, keys, allowed):
        """Attention probabilities of ``head`` for the suffix query ``(row, position)`` pairs of the
        last forward over ``keys`` (B, kv heads, prefix + suffix, D: the layer's cache after the
        forward, rotated); ``allowed`` (B, suffix, prefix + suffix) masks the keys each query sees."""
        import torch
        from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import apply_rotary_pos_emb

        hidden, (cos, sin) = self.inputs
        b, length, _ = hidden.shape
        dim = self.attn.head_dim
        kv_head = head // (self.attn.config.num_attention_heads // self.attn.config.num_key_value_heads)
        q = self.attn.q_proj(hidden).view(b, length, -1, dim)[:, :, head : head + 1].transpose(1, 2)
        q, _ = apply_rotary_pos_emb(q, q, cos, sin)
        bi = torch.tensor([r[0] for r in rows])
        pi = torch.tensor([r[1] for r in rows])
        scores = torch.einsum("nd,nld->nl", q[bi, 0, pi], keys[bi, kv_head]) / math.sqrt(dim)
        return torch.softmax(scores.masked_fill(~allowed[bi, pi], float("-inf")), dim=-1)


def number_spans(tokenizer, answer: str, numbers: tuple[str, str]) -> tuple[list[int], list[int]]:
    """Indices of the answer tokens that spell each of ``numbers`` (in order) in ``answer``."""
    enc = tokenizer(answer, return_offsets_mapping=True)
    out, cursor = [], 0
    for text in numbers:
        a = answer.index(text, cursor)
        cursor = a + len(text)
        out.append([i for i, (s, e) in enumerate(enc["offset_mapping"]) if s < cursor and e > a])
    return out[0], out[1]


def patch_targets(shown_patches: np.ndarray) -> tuple[list[int], list[int]] | None:
    """(start patches, end patches) from a boolean per temporal patch: the first patch showing the
    colour; the last one showing it and the first after it. None when it is never shown."""
    shown = np.flatnonzero(shown_patches)
    if shown.size == 0:
        return None
    first, last = int(shown[0]), int(shown[-1])
    return [first], [last] + ([last + 1] if last + 1 < len(shown_patches) else [])


def hint_loss(
    probes: tuple[AttentionProbe, AttentionProbe],
    heads: tuple[int, int],
    cache,
    *,
    prefix_ids,
    suffix_mask,
    group,
    suffix_lengths,
    video_token_id: int,
    sink_token_id: int,
):
    """Mean ``-log`` attention mass of two hinted heads: the first (an early layer) on the asked
    colour's word in the question, at every answer position; the second (the last layer) on the
    patches showing the colour (or the ``<|vision_start|>`` sink when none does) where the answer
    says whether the event occurs, and on the target patches' tokens at the positions that write
    the start and end numbers (each position predicts the next token: the one before each word)."""
    video = np.flatnonzero(np.asarray(prefix_ids) == video_token_id)
    sink = np.flatnonzero(np.asarray(prefix_ids) == sink_token_id)[:1]
    colour_rows, colour_keys, patch_rows, patch_keys = [], [], [], []
    for b, e in enumerate(group):
        first_answer = suffix_lengths[b] - len(e.labels)
        for t in range(len(e.labels)):
            colour_rows.append((b, first_answer + t - 1))
            colour_keys.append(np.array([e.color_token]))
        # the word that says whether the event occurs ("happens" / "does"): every patch showing
        # the colour, or the sink token before the video when none does
        patch_rows.append((b, first_answer + PRESENCE_TOKEN - 1))
        if e.hint is None:
            patch_keys.append(sink)
            continue
        start_tokens, end_tokens, (start_patches, end_patches), grid_t, shown = e.hint
        per_patch = len(video) // grid_t
        patch_keys.append(np.concatenate([video[p * per_patch : (p + 1) * per_patch] for p in shown]))
        for tokens, patches in ((start_tokens, start_patches), (end_tokens, end_patches)):
            keys = np.concatenate([video[p * per_patch : (p + 1) * per_patch] for p in patches])
            for t in tokens:
                patch_rows.append((b, first_answer + t - 1))
                patch_keys.append(keys)
    allowed = _allowed(len(prefix_ids), suffix_mask)
    losses = [_mass_loss(probes[0], heads[0], cache, colour_rows, colour_keys, allowed)]
    losses.append(_mass_loss(probes[1], heads[1], cache, patch_rows, patch_keys, allowed))
    return sum(losses) / len(losses)


def _allowed(common: int, suffix_mask):
    """(B, suffix, prefix + suffix): the keys each suffix query sees (the prefix, causal suffix)."""
    import torch

    width = suffix_mask.shape[1]
    causal = torch.ones(width, width, dtype=torch.bool).tril()
    return torch.cat(
        [
            torch.ones(suffix_mask.shape[0], width, common, dtype=torch.bool),
            causal[None] & suffix_mask.bool()[:, None, :],
        ],
        dim=2,
    )


def _mass_loss(probe: AttentionProbe, head: int, cache, rows, targets, allowed):
    import torch

    probs = probe.attention_rows(rows, head, cache.layers[probe.layer].keys, allowed)
    mass = torch.stack([probs[n, torch.from_numpy(k)].sum() for n, k in enumerate(targets)])
    return -torch.log(mass.clamp_min(1e-6)).mean()

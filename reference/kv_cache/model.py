"""The small GPT the assignment decodes with (provided to students in the notebook).

Llama-shaped and tiny: pre-norm blocks with RMSNorm, rotary position embeddings (RoPE),
grouped-query attention (GQA) and a GELU MLP. The weights are random, drawn from a seed on
the CPU, so every machine builds the same model and nothing is downloaded.

Two paths through attention:
- no caches: the whole sequence from position 0, plain causal attention (full recompute);
- caches: the tokens `idx` sit at absolute positions `pos`; each layer writes their keys and
  values into its cache (`cache.update`) and attends with `attend` (both written by students).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .attention import attend


@dataclass
class GPTConfig:
    vocab_size: int = 96
    n_layer: int = 2
    n_head: int = 4        # query heads
    n_kv_head: int = 2     # key/value heads; n_head // n_kv_head query heads share each
    n_embd: int = 64
    rope_base: float = 10000.0
    logit_scale: float = 2.0  # std of the random logits: clear winners for greedy decoding

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head


def rope_angles(pos: torch.Tensor, head_dim: int, base: float):
    """cos and sin of the rotary angles pos * base^(-2i / head_dim), i < head_dim / 2.
    pos: integer positions of any shape (...) -> two float32 tensors (..., head_dim // 2)."""
    inv_freq = base ** (-torch.arange(0, head_dim, 2, device=pos.device, dtype=torch.float32) / head_dim)
    angles = pos.to(torch.float32)[..., None] * inv_freq  # (..., head_dim // 2)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate the pairs (x[..., i], x[..., i + head_dim/2]) of x (B, H, T, head_dim) by their
    angles; cos, sin (B, 1, T, head_dim // 2). Computed in float32, returned in x's dtype."""
    x1, x2 = x.float().chunk(2, dim=-1)
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).to(x.dtype)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        x32 = x.float()
        return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype) * self.weight


class Attention(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        assert config.n_head % config.n_kv_head == 0, "n_head must be a multiple of n_kv_head"
        self.n_head, self.n_kv_head, self.head_dim = config.n_head, config.n_kv_head, config.head_dim
        self.wq = nn.Linear(config.n_embd, config.n_head * self.head_dim, bias=False)
        self.wk = nn.Linear(config.n_embd, config.n_kv_head * self.head_dim, bias=False)
        self.wv = nn.Linear(config.n_embd, config.n_kv_head * self.head_dim, bias=False)
        self.wo = nn.Linear(config.n_head * self.head_dim, config.n_embd, bias=False)

    def forward(self, x, cos, sin, pos=None, cache=None, kv_len=None):
        B, T, _ = x.shape
        q = self.wq(x).view(B, T, self.n_head, self.head_dim).transpose(1, 2)     # (B, nh, T, hd)
        k = self.wk(x).view(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)  # (B, nkv, T, hd)
        v = self.wv(x).view(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)  # (B, nkv, T, hd)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if cache is None:
            # Full recompute: T queries against the same T keys, causal (square mask).
            # Query head h reads key/value head h // (n_head // n_kv_head).
            group = self.n_head // self.n_kv_head
            k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)  # (B, nh, T, hd)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            k_all, v_all = cache.update(pos, k, v)     # (B, nkv, max_len, hd)
            y = attend(q, k_all, v_all, pos, kv_len)   # (B, nh, T, hd)
        y = y.transpose(1, 2).reshape(B, T, self.n_head * self.head_dim)  # (B, T, nh * hd)
        return self.wo(y)


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=False)
        self.proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=False)

    def forward(self, x):
        return self.proj(F.gelu(self.fc(x)))


class Block(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.attn_norm = RMSNorm(config.n_embd)
        self.attn = Attention(config)
        self.mlp_norm = RMSNorm(config.n_embd)
        self.mlp = MLP(config)

    def forward(self, x, cos, sin, pos=None, cache=None, kv_len=None):
        x = x + self.attn(self.attn_norm(x), cos, sin, pos, cache, kv_len)
        return x + self.mlp(self.mlp_norm(x))


class GPT(nn.Module):
    def __init__(self, config: GPTConfig, seed: int = 0):
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.n_embd)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.norm = RMSNorm(config.n_embd)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.reset_parameters(seed)

    @torch.no_grad()
    def reset_parameters(self, seed: int):
        """Random weights from `seed`, drawn on the CPU: the same model on every machine.
        Every matrix has std 1/sqrt(fan_in), so activations keep unit scale through the
        layers; the logits get std `logit_scale`."""
        generator = torch.Generator().manual_seed(seed)
        for name, param in self.named_parameters():
            if param.dim() == 1:
                continue  # RMSNorm gains stay 1
            std = 1.0 if name == "tok_emb.weight" else 1.0 / math.sqrt(param.shape[1])
            if name == "lm_head.weight":
                std *= self.config.logit_scale
            param.copy_(torch.randn(param.shape, generator=generator) * std)

    def forward(self, idx, pos=None, caches=None, kv_len=None):
        """Logits (B, T, vocab_size), float32, for the tokens idx (B, T).

        Without caches: idx holds whole sequences from position 0 (full recompute).
        With caches (a list of one KVCache per layer): idx holds the tokens at absolute
        positions pos ((T,): the same for every row, or (B, T)); kv_len (int or (B,)) is the
        number of cache slots each row may attend to once these tokens are written.
        """
        B, T = idx.shape
        if caches is None:
            pos = torch.arange(T, device=idx.device)
        cos, sin = rope_angles(pos.expand(B, T), self.config.head_dim, self.config.rope_base)  # (B, T, hd/2)
        cos, sin = cos[:, None], sin[:, None]  # (B, 1, T, hd/2): one angle per position, for every head
        x = self.tok_emb(idx)  # (B, T, n_embd)
        for layer, block in enumerate(self.blocks):
            x = block(x, cos, sin, pos, None if caches is None else caches[layer], kv_len)
        return self.lm_head(self.norm(x)).float()

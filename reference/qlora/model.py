"""The small causal language model and the synthetic tasks of the assignment (provided code).

Attention projections and the MLP are plain `nn.Linear` layers named as in LLaMA
(`q_proj`, `k_proj`, `v_proj`, `o_proj`, `up_proj`, `down_proj`), so `inject_lora` can find
them by name, the way peft's `target_modules` does.
"""

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class TinyLMConfig:
    vocab_size: int = 16  # 15 symbols and one separator
    max_seq_len: int = 32
    n_layer: int = 2
    n_head: int = 4
    d_model: int = 64
    d_ff: int = 256


class CausalSelfAttention(nn.Module):
    def __init__(self, config: TinyLMConfig):
        super().__init__()
        self.n_head = config.n_head
        self.q_proj = nn.Linear(config.d_model, config.d_model, bias=False)
        self.k_proj = nn.Linear(config.d_model, config.d_model, bias=False)
        self.v_proj = nn.Linear(config.d_model, config.d_model, bias=False)
        self.o_proj = nn.Linear(config.d_model, config.d_model, bias=False)

    def forward(self, x):
        B, T, C = x.shape
        hs = C // self.n_head
        q = self.q_proj(x).view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        k = self.k_proj(x).view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        v = self.v_proj(x).view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, nh, T, hs)
        y = y.transpose(1, 2).reshape(B, T, C)  # (B, T, C)
        return self.o_proj(y)


class MLP(nn.Module):
    def __init__(self, config: TinyLMConfig):
        super().__init__()
        self.up_proj = nn.Linear(config.d_model, config.d_ff, bias=False)
        self.down_proj = nn.Linear(config.d_ff, config.d_model, bias=False)

    def forward(self, x):
        return self.down_proj(F.gelu(self.up_proj(x)))


class Block(nn.Module):
    def __init__(self, config: TinyLMConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.d_model)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.d_model)
        self.mlp = MLP(config)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class TinyCausalLM(nn.Module):
    def __init__(self, config: TinyLMConfig):
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.d_model)
        self.pos_emb = nn.Embedding(config.max_seq_len, config.d_model)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.d_model)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)

    def forward(self, tokens):
        T = tokens.shape[1]
        positions = torch.arange(T, device=tokens.device)
        x = self.tok_emb(tokens) + self.pos_emb(positions)  # (B, T, C)
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))  # (B, T, vocab)


LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj")


def _symbols_and_separator(batch_size, n_symbols, vocab_size, generator):
    symbols = torch.randint(0, vocab_size - 1, (batch_size, n_symbols), generator=generator)
    separator = torch.full((batch_size, 1), vocab_size - 1)
    return symbols, separator


def _with_mask(prompt_and_separator, answer):
    tokens = torch.cat([prompt_and_separator, answer], dim=1)  # (B, 2n+1)
    answer_mask = torch.zeros_like(tokens, dtype=torch.bool)
    answer_mask[:, -answer.shape[1]:] = True  # the loss counts the answer tokens only
    return tokens, answer_mask


def copy_task(batch_size, n_symbols=8, vocab_size=16, generator=None):
    """`x1 .. xn SEP x1 .. xn`: the pretraining task."""
    symbols, separator = _symbols_and_separator(batch_size, n_symbols, vocab_size, generator)
    return _with_mask(torch.cat([symbols, separator], dim=1), symbols)


def reverse_task(batch_size, n_symbols=8, vocab_size=16, generator=None):
    """`x1 .. xn SEP xn .. x1`: a harder fine-tuning task (to explore)."""
    symbols, separator = _symbols_and_separator(batch_size, n_symbols, vocab_size, generator)
    return _with_mask(torch.cat([symbols, separator], dim=1), symbols.flip(1))


def shift_task(batch_size, n_symbols=8, vocab_size=16, generator=None):
    """`x1 .. xn SEP x1+1 .. xn+1` (mod the number of symbols)."""
    symbols, separator = _symbols_and_separator(batch_size, n_symbols, vocab_size, generator)
    return _with_mask(torch.cat([symbols, separator], dim=1), (symbols + 1) % (vocab_size - 1))


def language_model_loss(model, tokens, answer_mask):
    """Mean next-token cross-entropy over the answer tokens."""
    logits = model(tokens[:, :-1])  # (B, T-1, vocab): position t predicts token t+1
    targets = tokens[:, 1:].masked_fill(~answer_mask[:, 1:], -100)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), ignore_index=-100)

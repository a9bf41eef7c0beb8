"""Shared by the qlora tests (importable as `helpers`; released with the public tests).

Written independently of the notebook's solution: the NF4 table as bitsandbytes publishes
it, codes found by brute force (the nearest table value), bytes unpacked one at a time, and
small tools to count bytes and to evaluate the tiny language model.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

# bitsandbytes' NF4 table (also printed in the QLoRA paper's appendix).
BNB_NF4_TABLE = torch.tensor([
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
], dtype=torch.float32)

ZERO_CODE = 7  # the index of 0.0 in the table

# The models in these tests are tiny: per-operator overhead dominates, and OpenMP threads that
# spin against other runs on a shared machine make training ten times slower, not faster.
torch.set_num_threads(1)


# --- NF4 by brute force ---------------------------------------------------------------------
def block_absmax(w, blocksize):
    """max |w| of each block of `blocksize` consecutive values of the row-major flattened w."""
    flat = w.detach().reshape(-1).float()
    return torch.stack([chunk.abs().max() for chunk in flat.split(blocksize)])


def nearest_codes(w, blocksize, table):
    """The index of the nearest table value to every x / absmax (for data with no exact ties)."""
    flat = w.detach().reshape(-1).float()
    absmax = block_absmax(w, blocksize).repeat_interleave(blocksize)[: flat.numel()]
    normalized = flat / torch.where(absmax > 0, absmax, torch.ones_like(absmax))
    return (normalized[:, None] - table.float()[None, :]).abs().argmin(dim=1)


def unpack_codes(packed, count):
    """Codes from bytes, the first of each pair in the high nibble."""
    codes = []
    for byte in packed.tolist():
        codes += [byte // 16, byte % 16]
    return torch.tensor(codes[:count], dtype=torch.long)


def away_from_midpoints(w, blocksize, margin=1e-5):
    """Move the rare element within `margin` (relative to its block's absmax) of a decision
    boundary onto the nearest code value, so that an exact comparison of codes never hinges on
    the last bit of a table value."""
    flat = w.detach().reshape(-1).float().clone()
    absmax = block_absmax(w, blocksize).repeat_interleave(blocksize)[: flat.numel()]
    midpoints = (BNB_NF4_TABLE[:-1] + BNB_NF4_TABLE[1:]) / 2
    normalized = flat / torch.where(absmax > 0, absmax, torch.ones_like(absmax))
    near = ((normalized[:, None] - midpoints[None, :]).abs() < margin).any(dim=1)
    nearest = BNB_NF4_TABLE[(normalized[:, None] - BNB_NF4_TABLE[None, :]).abs().argmin(dim=1)]
    flat[near] = (nearest * absmax)[near]
    return flat.reshape(w.shape).to(w.dtype)


# --- modules ------------------------------------------------------------------------------
def lora_output(x, weight, bias, lora_A, lora_B, alpha, r):
    """y = x W^T + b + (alpha / r) x A^T B^T, in float64."""
    x64 = x.double()
    out = x64 @ weight.double().t() + (x64 @ lora_A.double().t()) @ lora_B.double().t() * (alpha / r)
    if bias is not None:
        out = out + bias.double()
    return out


def set_adapter(layer, rng, scale=0.1):
    """Give a LoRA layer non-zero A and B so that its update shows in the output."""
    with torch.no_grad():
        layer.lora_A.copy_(torch.randn(layer.lora_A.shape, generator=rng) * scale)
        layer.lora_B.copy_(torch.randn(layer.lora_B.shape, generator=rng) * scale)


def frozen_tensor_bytes(module):
    """Bytes of every parameter and buffer of `module` that does not train (each once)."""
    seen, total = set(), 0
    for tensor in list(module.parameters()) + list(module.buffers()):
        if tensor.requires_grad or id(tensor) in seen:
            continue
        seen.add(id(tensor))
        total += tensor.numel() * tensor.element_size()
    return total


def saved_tensor_bytes(run):
    """(bytes autograd keeps for the backward pass while `run()` builds the graph, run's
    output). Each storage is counted once, whoever saved it."""
    seen, total = set(), [0]

    def pack(tensor):
        storage = tensor.untyped_storage()
        key = (storage.data_ptr(), storage.nbytes())
        if key not in seen:
            seen.add(key)
            total[0] += storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        output = run()
    return total[0], output


def kaiming_figures(A):
    """(max |A| over nn.Linear's bound 1/sqrt(in), std(A) over that uniform's std) for a factor
    A of shape (r, in): both 1 for kaiming_uniform_(A, a=sqrt(5)); with 65536 values the std's
    sampling error is 0.2%, and the largest of them lies within 0.1% of the bound."""
    bound = 1 / math.sqrt(A.shape[1])
    A = A.detach().float()
    return A.abs().max().item() / bound, A.std().item() / (bound / math.sqrt(3))


def linear_layer(in_features, out_features, rng, bias=True, dtype=torch.float32):
    """An nn.Linear with weights drawn from `rng` (N(0, 1/in), like a trained layer's)."""
    layer = nn.Linear(in_features, out_features, bias=bias, dtype=dtype)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(out_features, in_features, generator=rng) / math.sqrt(in_features))
        if bias:
            layer.bias.copy_(torch.randn(out_features, generator=rng) * 0.1)
    return layer


# --- the tiny language model --------------------------------------------------------------
def lm_loss(model, tokens, answer_mask):
    """Mean cross-entropy over the answer tokens, computed here rather than by the notebook."""
    with torch.no_grad():
        logits = model(tokens[:, :-1]).float()
    losses = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1), reduction="none")
    return float(losses[answer_mask[:, 1:].reshape(-1)].mean())


def shift_batch(batch_size, rng, n_symbols=8, vocab_size=16):
    """`x1 .. xn SEP x1+1 .. xn+1` (mod 15), built here so that evaluation does not trust the
    notebook's task code."""
    symbols = torch.randint(0, vocab_size - 1, (batch_size, n_symbols), generator=rng)
    separator = torch.full((batch_size, 1), vocab_size - 1)
    tokens = torch.cat([symbols, separator, (symbols + 1) % (vocab_size - 1)], dim=1)
    answer_mask = torch.zeros_like(tokens, dtype=torch.bool)
    answer_mask[:, n_symbols + 1:] = True
    return tokens, answer_mask


def pretrain_copy_model(impl, rng, steps=40, batch_size=64, lr=3e-3):
    """The 'pretrained' base: the notebook's tiny LM trained on the copy task for a few
    seconds (deterministic given `rng`)."""
    model = impl.TinyCausalLM(impl.TinyLMConfig())
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    for _ in range(steps):
        symbols = torch.randint(0, 15, (batch_size, 8), generator=rng)
        tokens = torch.cat([symbols, torch.full((batch_size, 1), 15), symbols], dim=1)
        logits = model(tokens[:, :-1])  # position t predicts token t+1; answers start at 9
        loss = F.cross_entropy(logits[:, 8:].reshape(-1, 16), tokens[:, 9:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


def untouched_tensors(model):
    """Copies of the embeddings, LayerNorms and head: what no fine-tune may change."""
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()
            if name.startswith(("tok_emb", "pos_emb", "ln_f", "lm_head")) or ".ln_" in name}

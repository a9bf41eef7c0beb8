# An independent solution of kv_cache, written without looking at the reference's bodies.
# Each "# == CELL / N" section replaces the N-th "YOUR CODE HERE" stub of solution cell CELL.
# == kv_cache / 1
self.max_len = max_len
k_buf = torch.empty(batch, n_kv_heads, max_len, head_dim, dtype=dtype, device=device).zero_()
self.register_buffer("k_cache", k_buf, persistent=False)
self.register_buffer("v_cache", k_buf.clone(), persistent=False)
# == kv_cache / 2
if pos.ndim == 2:
    for b in range(k.size(0)):
        self.k_cache[b].index_copy_(1, pos[b], k[b])
        self.v_cache[b].index_copy_(1, pos[b], v[b])
else:
    self.k_cache.index_copy_(2, pos, k)
    self.v_cache.index_copy_(2, pos, v)
return self.k_cache, self.v_cache
# == attend / 1
batch, n_heads, n_q, dim = q.shape
rep = n_heads // k.size(1)
keys = k.repeat_interleave(rep, dim=1)
vals = v.repeat_interleave(rep, dim=1)
if not torch.is_tensor(kv_len):
    kv_len = torch.full((batch,), int(kv_len), device=q.device)
limit = int(kv_len.max().item())
keys, vals = keys[..., :limit, :], vals[..., :limit, :]
if q_pos.dim() == 1:
    q_pos = q_pos.unsqueeze(0).expand(batch, -1)
att = torch.einsum("bhqd,bhkd->bhqk", q.float(), keys.float()) * dim ** -0.5
j = torch.arange(limit, device=q.device).view(1, 1, limit)
allowed = (j <= q_pos.unsqueeze(-1)) & (j < kv_len.view(batch, 1, 1))
att = att.masked_fill(allowed.logical_not().unsqueeze(1), -torch.inf)
probs = att.softmax(-1)
return torch.einsum("bhqk,bhkd->bhqd", probs, vals.float()).to(q.dtype)
# == generate / 1
dev = next(model.parameters()).device
n = len(prompts)
seq = [list(p) for p in prompts]
cfg = model.config
out_logits = []
if use_cache:
    total = max(len(p) for p in prompts) + max_new_tokens
    caches = [KVCache(n, cfg.n_kv_head, total, cfg.head_dim, dtype=next(model.parameters()).dtype,
                      device=dev) for _ in range(cfg.n_layer)]
    width = max(len(p) for p in prompts)
    batch = torch.tensor([p + [0] * (width - len(p)) for p in seq], device=dev)
    logits = model(batch, pos=torch.arange(width, device=dev), caches=caches, kv_len=width)
    lens = torch.tensor([len(p) for p in seq], device=dev)
    last = logits[torch.arange(n, device=dev), lens - 1]
    for i in range(max_new_tokens):
        out_logits.append(last.float())
        nxt = last.argmax(-1)
        for b in range(n):
            seq[b].append(int(nxt[b]))
        if i + 1 == max_new_tokens:
            break
        lens = lens + 1
        last = model(nxt.view(n, 1), pos=(lens - 1).view(n, 1), caches=caches, kv_len=lens)[:, -1]
else:
    for i in range(max_new_tokens):
        width = max(len(s) for s in seq)
        batch = torch.tensor([s + [0] * (width - len(s)) for s in seq], device=dev)
        logits = model(batch)
        idx = torch.tensor([len(s) - 1 for s in seq], device=dev)
        last = logits[torch.arange(n, device=dev), idx]
        out_logits.append(last.float())
        nxt = last.argmax(-1)
        for b in range(n):
            seq[b].append(int(nxt[b]))
result = [s[len(p):] for s, p in zip(seq, prompts)]
if return_logits:
    if out_logits:
        return result, torch.stack(out_logits, 1)
    return result, torch.zeros(n, 0, cfg.vocab_size, device=dev)
return result
# == paged / 1
self.block_size = block_size
self.k_blocks = torch.zeros(num_blocks, n_kv_heads, block_size, head_dim, dtype=dtype, device=device)
self.v_blocks = torch.zeros_like(self.k_blocks)
self.used = [False] * num_blocks
self.seqs = {}
# == paged / 2
assert seq_id not in self.seqs, "duplicate sequence id"
self.seqs[seq_id] = {"blocks": [], "len": 0}
# == paged / 3
info = self.seqs[seq_id]
n_new = k.shape[1]
new_len = info["len"] + n_new
want = -(-new_len // self.block_size) - len(info["blocks"])
free_ids = [i for i, u in enumerate(self.used) if not u]
if want > len(free_ids):
    raise RuntimeError("not enough free blocks for sequence %d" % seq_id)
for i in free_ids[:want]:
    self.used[i] = True
    info["blocks"].append(i)
for t in range(n_new):
    p = info["len"] + t
    blk = info["blocks"][p // self.block_size]
    self.k_blocks[blk, :, p % self.block_size] = k[:, t]
    self.v_blocks[blk, :, p % self.block_size] = v[:, t]
info["len"] = new_len
# == paged / 4
for i in self.seqs[seq_id]["blocks"]:
    self.used[i] = False
del self.seqs[seq_id]
# == paged / 5
return self.seqs[seq_id]["blocks"].copy()
# == paged / 6
return self.seqs[seq_id]["len"]
# == paged / 7
return self.used.count(False)
# == paged / 8
outs = []
n_kv = cache.k_blocks.size(1)
for b, sid in enumerate(seq_ids):
    n = cache.seq_len(sid)
    ks = torch.cat([cache.k_blocks[i] for i in cache.block_table(sid)], dim=1)[:, :n]
    vs = torch.cat([cache.v_blocks[i] for i in cache.block_table(sid)], dim=1)[:, :n]
    rep = q.size(1) // n_kv
    ks = ks.repeat_interleave(rep, dim=0)
    vs = vs.repeat_interleave(rep, dim=0)
    w = torch.softmax((q[b].unsqueeze(1) @ ks.transpose(1, 2)).float() / math.sqrt(q.size(-1)), dim=-1)
    outs.append((w.to(vs.dtype) @ vs).squeeze(1))
return torch.stack(outs)

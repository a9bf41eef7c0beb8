# An independent solution of backprop, written without looking at the reference's bodies.
# Each "# == CELL / N" section replaces the N-th "YOUR CODE HERE" stub of solution cell CELL.
# == linear / 1
has_b = bias is not None
ctx.save_for_backward(x, weight, bias if has_b else torch.empty(0))
ctx.with_bias = has_b
y = torch.matmul(x, weight.transpose(0, 1))
return y + bias if has_b else y
# == linear / 2
inp, w, _ = ctx.saved_tensors
flat_in = inp.reshape(-1, inp.size(-1))
flat_g = grad_out.reshape(-1, grad_out.size(-1))
dx = torch.matmul(grad_out, w) if ctx.needs_input_grad[0] else None
dw = torch.einsum("ro,ri->oi", flat_g, flat_in) if ctx.needs_input_grad[1] else None
db = None
if ctx.with_bias and ctx.needs_input_grad[2]:
    db = torch.einsum("ro->o", flat_g)
return dx, dw, db
# == activations / 1
mask = x > 0
ctx.save_for_backward(mask)
return torch.where(mask, x, torch.zeros_like(x))
# == activations / 2
mask, = ctx.saved_tensors
return torch.where(mask, grad_out, torch.zeros_like(grad_out))
# == activations / 3
if approximate not in ("none", "tanh"):
    raise ValueError("unknown approximation: " + str(approximate))
ctx.save_for_backward(x)
ctx.mode = approximate
if approximate == "tanh":
    t = torch.tanh(SQRT_2_OVER_PI * (x + TANH_COEF * x.pow(3)))
    return x * (1 + t) / 2
phi = (1 + torch.erf(x / math.sqrt(2.0))) / 2
return x * phi
# == activations / 4
x, = ctx.saved_tensors
if ctx.mode == "tanh":
    u = SQRT_2_OVER_PI * (x + TANH_COEF * x.pow(3))
    t = torch.tanh(u)
    du = SQRT_2_OVER_PI * (1 + 3 * TANH_COEF * x.pow(2))
    deriv = (1 + t) / 2 + x * (1 - t.pow(2)) * du / 2
else:
    big_phi = (1 + torch.erf(x / math.sqrt(2.0))) / 2
    small_phi = torch.exp(-x.pow(2) / 2) / math.sqrt(2 * math.pi)
    deriv = big_phi + x * small_phi
return deriv * grad_out, None
# == cross_entropy / 1
keep = target.ne(ignore_index)
count = keep.sum()
tgt = torch.where(keep, target, torch.zeros_like(target))
lse = torch.logsumexp(logits, dim=-1)
picked = logits[torch.arange(logits.shape[0], device=logits.device), tgt]
losses = (lse - picked) * keep
soft = torch.softmax(logits, dim=-1)
ctx.save_for_backward(soft, tgt, keep, count)
return losses.sum() / count
# == cross_entropy / 2
soft, tgt, keep, count = ctx.saved_tensors
onehot = torch.nn.functional.one_hot(tgt, soft.shape[-1]).to(soft.dtype)
d_logits = (soft - onehot) * keep.unsqueeze(-1).to(soft.dtype)
return d_logits * (grad_loss / count), None, None
# == layernorm / 1
d = x.shape[-1]
mu = x.sum(-1, keepdim=True) / d
xc = x - mu
sigma2 = xc.pow(2).sum(-1, keepdim=True) / d
inv = 1.0 / torch.sqrt(sigma2 + eps)
xn = xc * inv
ctx.save_for_backward(xn, weight, inv)
return torch.addcmul(bias, xn, weight)
# == layernorm / 2
xn, w, inv = ctx.saved_tensors
d = xn.shape[-1]
dxn = grad_out * w
term = d * dxn - dxn.sum(-1, keepdim=True) - xn * (dxn * xn).sum(-1, keepdim=True)
dx = inv / d * term
lead = tuple(range(grad_out.dim() - 1))
dw = (grad_out * xn).sum(dim=lead)
db = grad_out.sum(dim=lead)
return dx, dw, db, None
# == dropout / 1
if p < 0 or p > 1:
    raise ValueError("p must lie in [0, 1]")
if (not training) or p == 0:
    ctx.identity = True
    return x.clone()
ctx.identity = False
if p == 1:
    m = torch.zeros_like(x, dtype=torch.bool)
    ctx.mult = 0.0
else:
    m = torch.bernoulli(torch.full_like(x, 1 - p)).bool()
    ctx.mult = 1 / (1 - p)
ctx.save_for_backward(m)
return torch.where(m, x * ctx.mult, torch.zeros_like(x))
# == dropout / 2
if ctx.identity:
    return grad_out.clone(), None, None
m, = ctx.saved_tensors
return torch.where(m, grad_out * ctx.mult, torch.zeros_like(grad_out)), None, None
# == adamw / 1
self.params = [p for p in params]
self.lr = lr
self.b1, self.b2 = betas
self.eps = eps
self.wd = weight_decay
self.t = [0] * len(self.params)
self.m = [None] * len(self.params)
self.v = [None] * len(self.params)
# == adamw / 2
for i, p in enumerate(self.params):
    g = p.grad
    if g is None:
        continue
    if self.m[i] is None:
        self.m[i] = torch.zeros_like(p)
        self.v[i] = torch.zeros_like(p)
    self.t[i] = self.t[i] + 1
    t = self.t[i]
    p.sub_(self.lr * self.wd * p)
    self.m[i] = self.b1 * self.m[i] + (1 - self.b1) * g
    self.v[i] = self.b2 * self.v[i] + (1 - self.b2) * g * g
    m_hat = self.m[i] / (1 - self.b1 ** t)
    v_hat = self.v[i] / (1 - self.b2 ** t)
    p.sub_(self.lr * m_hat / (torch.sqrt(v_hat) + self.eps))
# == adamw / 3
for p in self.params:
    if p.grad is not None:
        p.grad = None
# == mlp_block / 1
normed = LayerNormFunction.apply(x, self.ln_weight, self.ln_bias, self.eps)
hidden = GELUFunction.apply(LinearFunction.apply(normed, self.fc_weight, self.fc_bias))
out = LinearFunction.apply(hidden, self.proj_weight, self.proj_bias)
return out + x

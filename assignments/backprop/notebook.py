# %% [markdown]
# # Homework 1 — Backprop by hand
#
# `loss.backward()` is one line, and it hides most of what makes deep learning fast or slow:
# which tensors are kept alive between the forward and the backward pass (that is where the
# memory of training goes), which of them could be recomputed instead, where an overflow turns
# a loss into `inf`, why an optimizer's `eps` sits where it sits. Every technique later in this
# course — fused kernels, activation checkpointing, FlashAttention, low-precision training —
# starts from knowing exactly what a backward pass needs.
#
# So in this homework autograd may *chain* your layers together, but it may not differentiate
# anything for you. You write each layer as a `torch.autograd.Function` with a hand-written
# `forward` and `backward`, then an optimizer, then a transformer's MLP block from your own
# pieces, and finally you train a small network on handwritten digits with nothing but your code.
#
# **What you build** (points out of 100):
#
# | part | what | points |
# | --- | --- | --- |
# | `linear` | `LinearFunction.apply(x, weight, bias=None)`, `x` of shape `(..., in)` | 15 |
# | `activations` | `ReLUFunction.apply(x)`, `GELUFunction.apply(x, approximate="none" \| "tanh")` | 15 |
# | `cross_entropy` | `CrossEntropyFunction.apply(logits, target, ignore_index=-100)`, stable | 15 |
# | `layernorm` | `LayerNormFunction.apply(x, weight, bias, eps=1e-5)`, saving only what backward needs | 20 |
# | `dropout` | `DropoutFunction.apply(x, p, training=True)`, the mask drawn once | 10 |
# | `adamw` | `AdamW(params, lr, betas, eps, weight_decay)` with `step()` and `zero_grad()` | 15 |
# | `mlp_block` | `MLPBlock`: LayerNorm → Linear → GELU → Linear, plus the residual | 10 |
#
# **The rules.**
# - Inside your code, no `torch.autograd.grad`, no `.backward()`, no `torch.func`, no
#   `torch.autograd.functional` or `forward_ad`, nor the autograd engine behind them. The grader scans your solution cells for these names (a hit
#   costs the points of every part) and fails such a call at run time. Only the solution cells
#   are your submission: experiments that call `.backward()`, like the self-check cells of this
#   notebook, belong in ordinary cells.
# - No torch shortcut for the layer you are writing: `F.gelu` in the GELU part,
#   `F.cross_entropy` / `log_softmax` / `softmax` / `logsumexp` in cross-entropy,
#   `F.layer_norm` in LayerNorm, `F.dropout` in dropout, `torch.optim.Adam(W)` in AdamW. Matrix
#   products, `exp`, `erf`, `tanh`, `mean`, `sum`, ... are all fine.
#
# **Targets.** This homework runs on CPU and has no timing part; its efficiency targets are:
# - *memory*: LayerNorm saves at most **one tensor the size of its input** (plus per-row
#   statistics and the weight) for backward, measured in bytes with
#   `torch.autograd.graph.saved_tensors_hooks`, and keeps no tensor as a plain `ctx` attribute;
# - *vectorised code*: no Python loop over rows or elements. The hidden tests run shapes such as
#   `(8, 64, 768)`; grading the whole reference takes well under a minute on 2 CPU cores.
#
# **Accuracy.** Your values are compared with the reference solution's, with
# `torch.testing.assert_close`'s default tolerances in float32 (`rtol=1.3e-6, atol=1e-5`) and
# `1e-7` in float64. The only loosening: values that are long sums (a weight gradient sums over
# every row of the batch) may differ by a few units in the last place of their largest entry,
# because the order of summation is yours to choose.
#
# Check your work at any time with the self-check cell at the end, or from a terminal with
# `dlgrade check notebook.ipynb` (the public tests).

# %% [provided id=imports]
import math

import torch
from torch import nn

# %%
import torch.nn.functional as F  # for comparisons in the demo cells only

torch.manual_seed(0)

# %% [markdown]
# ## 0. How autograd calls your code
#
# For a scalar loss $L$ and a layer $y = f(x)$, the backward pass receives the **upstream
# gradient** $\bar y = \partial L/\partial y$ (same shape as $y$) and must return
# $\bar x = \partial L/\partial x$ (same shape as $x$). By the chain rule
# $\bar x_j = \sum_i \bar y_i \, \partial y_i / \partial x_j$: a *vector–Jacobian product*.
# The Jacobian itself is never built — for a `(8, 64, 768)` LayerNorm it would have
# $393\,216^2 \approx 1.5\cdot 10^{11}$ entries. Each backward below is a closed formula for the
# product.
#
# ```
#  forward:   x ──► Linear ──► GELU ──► Linear ──► CrossEntropy ──► L
#               ctx saves x,W   saves x   saves h,W  saves softmax
#
#  backward:  x̄ ◄── Linear ◄── GELU ◄── Linear ◄── CrossEntropy ◄── 1
#             (uses what its own forward saved, and the ḡ from its right)
# ```
#
# A `torch.autograd.Function` has two static methods:
#
# - `forward(ctx, *inputs)` computes the output (autograd is switched off inside it) and stores
#   what the backward will need: tensors with `ctx.save_for_backward(...)`, anything else
#   (a float, a flag) as an attribute, `ctx.eps = eps`.
# - `backward(ctx, grad_output)` returns **one gradient per input of `forward`**, in order:
#   a tensor of that input's shape, or `None` for inputs that are not tensors (an `eps`, a
#   string) or need no gradient. `ctx.needs_input_grad[i]` tells you whether input `i` needs one.
#
# You call it as `MyFunction.apply(*inputs)`, never `MyFunction()(...)`.
#
# Why `save_for_backward` and not `ctx.x = x`? Autograd checks saved tensors for in-place
# modification between forward and backward (and raises instead of silently returning a wrong
# gradient), and frees them when the graph is freed. It is also where the memory of training
# goes: every saved tensor stays alive until its backward has run. The grader counts the bytes.
#
# Here is a complete example, $y = x^2$:

# %%
class Square(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * 2 * x  # ȳ · dy/dx, elementwise


x = torch.randn(5, dtype=torch.float64, requires_grad=True)
print("gradcheck:", torch.autograd.gradcheck(Square.apply, (x,)))

# %% [markdown]
# `torch.autograd.gradcheck` compares your backward with **finite differences** of your forward,
# $\partial y/\partial x_j \approx (f(x + \epsilon e_j) - f(x - \epsilon e_j)) / 2\epsilon$.
# Always run it in **float64**: the central difference has a truncation error of order
# $\epsilon^2$ and a rounding error of order $u/\epsilon$ where $u$ is the unit roundoff. With
# $\epsilon = 10^{-6}$, float64 ($u \approx 10^{-16}$) gives about $10^{-10}$, while float32
# ($u \approx 6\cdot 10^{-8}$) gives an error of order $0.06$: gradcheck in float32 fails even for
# a correct backward. Use gradcheck in float64 on small shapes while you work; the hidden tests
# compare your outputs and your backward's products with seeded upstream gradients against the
# reference, in float64 on small shapes and in float32 on realistic ones.

# %% [markdown]
# ## 1. Linear
#
# $y = x W^\top + b$ with $x$ of shape `(..., in)`, $W$ of shape `(out, in)`, $b$ of shape
# `(out,)`. Write $x$ as a matrix $X$ of shape `(rows, in)` where rows is the product of all
# leading dimensions (a batch of 8 sequences of 64 tokens is 512 rows), and $\bar Y$ likewise
# `(rows, out)`. Then
#
# $$\bar X = \bar Y W \quad (\text{rows}, \text{in}), \qquad
#   \bar W = \bar Y^\top X \quad (\text{out}, \text{in}), \qquad
#   \bar b = \textstyle\sum_{\text{rows}} \bar Y \quad (\text{out},).$$
#
# Check the shapes, and you have checked most of the algebra: $\bar W$ must have $W$'s shape,
# and the only product of $\bar Y$ and $X$ with that shape sums over the rows. A weight shared by
# every token gets the *sum* of every token's contribution.
#
# ```
#        X (rows, in)          Wᵀ (in, out)            Y (rows, out)
#    ┌─────────────┐     ┌──────────┐          ┌──────────┐
#    │ token 0     │  @  │          │    =     │          │
#    │ token 1     │     │          │          │          │
#    │ ...         │     └──────────┘          │          │
#    └─────────────┘                           └──────────┘
#    W̄ = Ȳᵀ X : (out, rows) @ (rows, in) — every row (token) contributes
# ```
#
# Details that the hidden tests probe:
# - inputs of any number of leading dimensions, including none (`x` of shape `(in,)`);
# - **non-contiguous** inputs and gradients (a transposed tensor): `.view()` refuses to flatten
#   them, `.reshape()` copies when it must;
# - `bias=None`: then `backward` returns `None` in the bias position;
# - frozen inputs: skip what `ctx.needs_input_grad` says nobody needs.

# %% [solution id=linear include=../../reference/backprop/linear.py]

# %%
# Self-check: compare with torch's own F.linear on a 3-D, non-contiguous input.
x = torch.randn(4, 16, 6).transpose(1, 2).requires_grad_()  # (4, 6, 16), strided
w = torch.randn(8, 16, requires_grad=True)
b = torch.randn(8, requires_grad=True)
g = torch.randn(4, 6, 8)
LinearFunction.apply(x, w, b).backward(g)
mine = [t.grad.clone() for t in (x, w, b)]
for t in (x, w, b):
    t.grad = None
F.linear(x, w, b).backward(g)
for name, ours, theirs in zip(("x", "weight", "bias"), mine, (x.grad, w.grad, b.grad)):
    print(f"grad_{name:6s} max error vs autograd: {(ours - theirs).abs().max().item():.1e}")
print("gradcheck:", torch.autograd.gradcheck(
    LinearFunction.apply, [torch.randn(s, dtype=torch.float64, requires_grad=True) for s in ((2, 3, 4), (5, 4), (5,))]))

# %% [markdown]
# ## 2. ReLU and GELU
#
# **ReLU**, $\max(x, 0)$, has derivative 1 for $x > 0$ and 0 for $x < 0$. At $x = 0$ it has no
# derivative; PyTorch (and the grader) use 0 there. Exact zeros do happen — after another ReLU,
# or with padding — so the choice is visible. Note that the output alone tells you where
# $x > 0$: you may save $y$ instead of $x$.
#
# **GELU** (Hendrycks & Gimpel, 2016), used by BERT and GPT-2, weights its input by the
# probability that a standard normal variable is below it: $\operatorname{gelu}(x) = x\,\Phi(x)$
# with $\Phi(x) = \tfrac12\left(1 + \operatorname{erf}(x/\sqrt2)\right)$. Its derivative follows
# from the product rule and $\Phi' = \varphi$, the normal density:
#
# $$\operatorname{gelu}'(x) = \Phi(x) + x\,\varphi(x), \qquad \varphi(x) = \frac{e^{-x^2/2}}{\sqrt{2\pi}}.$$
#
# GPT-2 used the **tanh approximation**
# $\operatorname{gelu}(x) \approx \tfrac12 x\,(1 + \tanh u)$ with
# $u = \sqrt{2/\pi}\,(x + 0.044715\,x^3)$, whose derivative is
#
# $$\tfrac12(1 + \tanh u) + \tfrac12 x\,(1 - \tanh^2 u)\,\sqrt{2/\pi}\,(1 + 3\cdot 0.044715\,x^2).$$
#
# The two differ by up to about $10^{-3}$ — far more than float32's tolerance, so
# `approximate="tanh"` needs its own derivative, not the exact one. Inputs of $|x| = 50$ must
# not produce `NaN` (what is $e^{-1250}$ in float32? what is $\tanh$ of a huge number?).
#
# The figure below (or its text version, without matplotlib) shows why GELU is not just a smooth
# ReLU: it is not monotonic (a minimum of about $-0.17$ at $x \approx -0.75$), so its derivative
# is *negative* for $x < -0.75$, down to $-0.13$ at $x = -\sqrt2$, and overshoots 1, up to
# $1.13$ at $x = \sqrt2$ (set the derivative of $\Phi + x\varphi$, which is $\varphi\,(2 - x^2)$,
# to zero).

# %%
xs = torch.linspace(-4, 4, 161, dtype=torch.float64)
curves = {
    "relu": xs.clamp_min(0),
    "gelu": xs * 0.5 * (1 + torch.erf(xs / math.sqrt(2))),
    "gelu'": 0.5 * (1 + torch.erf(xs / math.sqrt(2))) + xs * torch.exp(-xs**2 / 2) / math.sqrt(2 * math.pi),
}
try:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, ys in curves.items():
        ax.plot(xs, ys, label=name, linestyle="--" if name == "relu" else "-")
    ax.axhline(0, color="gray", linewidth=0.5)
    ax.set_ylim(-0.5, 2)
    ax.legend()
    ax.set_title("ReLU, GELU and GELU's derivative")
    plt.show()
except ImportError:  # a text plot: rows are y from 1.5 down to -0.25, columns are x from -4 to 4
    for level in [1.5 - 0.125 * i for i in range(15)]:
        row = ""
        for i in range(0, 161, 2):
            marks = [m for m, key in (("r", "relu"), ("g", "gelu"), ("'", "gelu'"))
                     if abs(curves[key][i].item() - level) < 0.0625]
            row += marks[0] if marks else ("-" if abs(level) < 0.0625 else " ")
        print(f"{level:6.2f} |{row}")
    print("        x from -4 to 4;  r: relu   g: gelu   ': gelu'")

# %% [solution id=activations include=../../reference/backprop/activations.py]

# %%
# Self-check: both GELU flavours against F.gelu, including large |x|.
for approximate in ("none", "tanh"):
    x = (torch.linspace(-50, 50, 2001)).requires_grad_()
    out = GELUFunction.apply(x, approximate)
    out.backward(torch.ones_like(out))
    ours = x.grad.clone()
    x.grad = None
    F.gelu(x, approximate=approximate).backward(torch.ones_like(out))
    print(f"gelu[{approximate}]  output error {(out - F.gelu(x, approximate=approximate)).abs().max().item():.1e}"
          f"  grad error {(ours - x.grad).abs().max().item():.1e}  finite: {bool(torch.isfinite(ours).all())}")
x = torch.tensor([-1.0, 0.0, 1.0], requires_grad=True)
ReLUFunction.apply(x).sum().backward()
print("relu'(-1, 0, 1) =", x.grad.tolist(), "(expected [0, 0, 1])")

# %% [markdown]
# ## 3. Cross-entropy, stable
#
# For logits $z \in \mathbb{R}^{N \times C}$ and integer targets $t$, the loss of row $n$ is
# $-\log \operatorname{softmax}(z_n)_{t_n} = \log\sum_j e^{z_{nj}} - z_{n t_n}$, and the loss is
# the **mean over the rows whose target is not `ignore_index`** (padding tokens in a language
# model are marked `-100` and must count neither in the sum nor in the divisor).
#
# **Overflow.** In float32, $e^{z}$ is `inf` for $z > 88.7$: logits of a confident model, or
# logits multiplied by 1000, break the naive formula. Subtracting the row maximum
# $m_n = \max_j z_{nj}$ changes nothing mathematically,
# $$\log\sum_j e^{z_{nj}} = m_n + \log\sum_j e^{z_{nj} - m_n},$$
# but now every exponent is $\le 0$ and the sum is between 1 and $C$: no overflow, and no
# $\log 0$ either.
#
# **Gradient.** Differentiating the row loss gives the famous
# $$\frac{\partial L_n}{\partial z_{nj}} = \operatorname{softmax}(z_n)_j - [j = t_n],$$
# "predicted minus true". The mean divides by the number of non-ignored rows $N_{\text{valid}}$,
# ignored rows get zero gradient, and the upstream gradient $\bar L$ (a scalar, 1 for
# `loss.backward()`, but not always) multiplies everything:
# $\bar z_n = \bar L\,(\operatorname{softmax}(z_n) - e_{t_n}) / N_{\text{valid}}$.
#
# Think about what to save: the softmax probabilities are exactly what the backward needs.

# %% [solution id=cross_entropy include=../../reference/backprop/cross_entropy.py]

# %%
# Self-check: huge logits, ignored rows, and an upstream gradient of 2.5.
logits = (torch.randn(8, 5) * 1000).requires_grad_()
target = torch.tensor([0, 1, -100, 3, 4, -100, 2, 1])
loss = CrossEntropyFunction.apply(logits, target)
loss.backward(torch.tensor(2.5))
ours = logits.grad.clone()
logits.grad = None
expected = F.cross_entropy(logits, target)
expected.backward(torch.tensor(2.5))
print(f"loss {loss.item():.4f} (torch {expected.item():.4f}),"
      f" grad error {(ours - logits.grad).abs().max().item():.1e}")

# %% [markdown]
# ## 4. LayerNorm, and what to keep for backward
#
# Over the last dimension ($D$ features) of each row:
# $$\mu = \tfrac1D\textstyle\sum_i x_i,\quad \sigma^2 = \tfrac1D\sum_i (x_i - \mu)^2,\quad
#   \hat x_i = \frac{x_i - \mu}{\sqrt{\sigma^2 + \epsilon}},\quad y_i = w_i \hat x_i + b_i.$$
# Note $\tfrac1D$ (the *biased* variance; `x.var()` divides by $D-1$) and $\epsilon$ **inside**
# the square root: it keeps the division finite for a constant row, and it is what torch does.
#
# **The backward.** With $g_i = \bar y_i w_i$ (the gradient reaching $\hat x$) and
# $r = 1/\sqrt{\sigma^2+\epsilon}$, pushing $g$ through $\hat x$'s dependence on $x$, $\mu$ and
# $\sigma^2$ and simplifying gives
# $$\bar x = r\left(g - \operatorname{mean}(g) - \hat x \cdot \operatorname{mean}(g\,\hat x)\right),
# \qquad \bar w = \textstyle\sum_{\text{rows}} \bar y\,\hat x, \qquad \bar b = \sum_{\text{rows}} \bar y.$$
# (Derive it once: $\partial\mu/\partial x_j = 1/D$ and $\partial\sigma^2/\partial x_j = 2(x_j-\mu)/D$.)
# The two means remove the components of $g$ that normalisation makes invisible: a shift of the
# whole row, and a scaling of it.
#
# **Memory.** The formula needs $\hat x$ (one `(rows, D)` tensor), $r$ (one number per row) and
# $w$. Whatever you save lives from the forward until the backward, for *every* layer of the
# network: with 24 layers, 8×1024 tokens and $D = 1024$, one extra float32 tensor of $x$'s size
# per LayerNorm costs 800 MB. Options, in float32:
#
# | saved | bytes for x of shape (rows, D) | |
# | --- | --- | --- |
# | $x, \hat x, y$, $\mu$, $r$, $w$ | $3 \cdot 4\,\text{rows}\,D + \dots$ | too much |
# | $x$, $\mu$, $r$, $w$ (what torch saves) | $4\,\text{rows}\,D + 8\,\text{rows} + 4D$ | fine |
# | $\hat x$, $r$, $w$ | $4\,\text{rows}\,D + 4\,\text{rows} + 4D$ | fine |
#
# The grader counts the bytes you pass to `ctx.save_for_backward` (with
# `torch.autograd.graph.saved_tensors_hooks`, as in the cell after the solution) and allows at
# most one tensor of $x$'s size plus small things. Keep tensors out of plain `ctx` attributes.
#
# **Stability.** Rows with a large mean, say $x + 100$: $E[x^2] - E[x]^2$ subtracts two numbers
# near $10^4$ to find a variance near 1 and loses about four of float32's seven digits. Compute
# the mean first, then the mean of squared *deviations*.

# %% [solution id=layernorm include=../../reference/backprop/layernorm.py]

# %%
# Self-check: values against F.layer_norm (also with a large mean), and the bytes you save.
def saved_bytes(function):
    """Bytes of every tensor passed to ctx.save_for_backward while function() runs."""
    sizes = []

    def pack(tensor):
        sizes.append(tensor.numel() * tensor.element_size())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        function()
    return sum(sizes)


for offset in (0.0, 100.0):
    x = (torch.randn(8, 64, 768) + offset).requires_grad_()
    w, b = (1 + 0.5 * torch.randn(768)).requires_grad_(), torch.randn(768).requires_grad_()
    out = LayerNormFunction.apply(x, w, b, 1e-5)
    out.backward(torch.ones_like(out))
    expected = F.layer_norm(x, (768,), w, b, 1e-5)
    print(f"x + {offset:5.1f}: output error vs F.layer_norm {(out - expected).abs().max().item():.1e}")
x = torch.randn(512, 768, requires_grad=True)
print(f"saved for backward: {saved_bytes(lambda: LayerNormFunction.apply(x, w, b, 1e-5)):,} bytes;"
      f" x itself is {x.numel() * 4:,} bytes (budget: less than twice that)")

# %% [markdown]
# ## 5. Dropout
#
# During training, dropout zeroes each element independently with probability $p$. **Inverted**
# dropout (what everyone uses) scales the survivors by $1/(1-p)$ during training, so that the
# expected output equals the input and evaluation needs no rescaling: with `training=False`
# the layer is the identity.
#
# The backward of $y = x \cdot m / (1-p)$ is $\bar x = \bar y \cdot m / (1-p)$ with **the same
# mask** $m$. Drawing a fresh mask in backward gives a gradient that belongs to a different
# network — it trains, badly, and no error tells you. Save the mask; a `bool` mask costs one
# byte per element, a float one four.
#
# Edge cases: $p = 0$ drops nothing; $p = 1$ drops everything, and $1/(1-p) = \infty$ must not
# turn $0 \cdot \infty$ into `NaN`. Use torch's random generator (`torch.rand_like`,
# `torch.bernoulli`, ...), so that `torch.manual_seed` makes runs repeatable.
#
# The grader cannot know your random mask, so it checks properties of your own output: every
# element is $0$ or exactly $x/(1-p)$, the dropped fraction is within 0.01 of $p$ on 131 072
# elements, and your gradient is zero exactly where your output is.

# %% [solution id=dropout include=../../reference/backprop/dropout.py]

# %%
# Self-check: the fraction dropped, the scale of the survivors, the mask reused in backward.
x = torch.randn(100_000, requires_grad=True)
y = DropoutFunction.apply(x, 0.3, True)
y.backward(torch.ones_like(y))
kept = y != 0
print(f"dropped {1 - kept.float().mean().item():.3f} (p = 0.3);"
      f" survivors scaled by 1/(1-p): {torch.allclose(y[kept], x[kept] / 0.7)};"
      f" gradient uses the same mask: {torch.equal(x.grad != 0, kept)}")

# %% [markdown]
# ## 6. AdamW
#
# Adam keeps, for every parameter, running averages of the gradient ($m$, the *first moment*)
# and of its square ($v$, the *second moment*), and steps along $m/\sqrt v$: a per-coordinate
# step size that is large where gradients are small and consistent, small where they are noisy.
# AdamW (Loshchilov & Hutter, *Decoupled Weight Decay Regularization*, ICLR 2019) applies weight
# decay **directly to the weights** instead of adding $\lambda\theta$ to the gradient. For each
# parameter $\theta$ with gradient $g$, at its own step count $t = 1, 2, \dots$:
#
# $$\begin{aligned}
# \theta &\leftarrow \theta\,(1 - \text{lr}\cdot\lambda) \\
# m &\leftarrow \beta_1 m + (1-\beta_1)\, g, \qquad v \leftarrow \beta_2 v + (1-\beta_2)\, g^2 \\
# \hat m &= m / (1 - \beta_1^t), \qquad \hat v = v / (1 - \beta_2^t) \\
# \theta &\leftarrow \theta - \text{lr}\cdot \hat m / (\sqrt{\hat v} + \epsilon)
# \end{aligned}$$
#
# - **Why decoupled?** With L2 regularisation ($g + \lambda\theta$ fed into Adam), the decay is
#   divided by $\sqrt{\hat v}$ like everything else: weights with large gradients are barely
#   decayed. AdamW decays every weight at the same relative rate, which is what "weight decay"
#   means and what trains transformers well.
# - **Bias correction.** $m$ and $v$ start at 0, so early averages are too small; dividing by
#   $1 - \beta^t$ corrects exactly for that. $t$ counts the steps *this parameter* has taken: a
#   parameter without a gradient (`p.grad is None`, e.g. an unused embedding row's module) is
#   skipped and its count does not advance.
# - **eps outside the square root.** $\sqrt{\hat v} + \epsilon$ bounds the step by
#   $\text{lr}\cdot\hat m/\epsilon$; the grader uses gradients of $10^{-9}$ where the placement
#   decides the answer.
# - Defaults as torch: `lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2`.
#   `step()` updates the parameters in place without touching `p.grad`; `zero_grad()` sets every
#   `p.grad` to `None`. `params` may be any iterable of tensors (a generator such as
#   `model.parameters()`: turn it into a list once).
#
# After 5 steps your parameters must match `torch.optim.AdamW`'s to float32 precision.

# %% [solution id=adamw include=../../reference/backprop/adamw.py]

# %%
# Self-check: 5 steps against torch.optim.AdamW.
start = [torch.randn(10, 4), torch.randn(4)]
ours = [p.clone().requires_grad_() for p in start]
theirs = [p.clone().requires_grad_() for p in start]
mine, reference = AdamW(ours, lr=1e-2, weight_decay=0.1), torch.optim.AdamW(theirs, lr=1e-2, weight_decay=0.1)
for _ in range(5):
    for p, q in zip(ours, theirs):
        p.grad = torch.randn(p.shape)
        q.grad = p.grad.clone()
    mine.step()
    reference.step()
print("max difference from torch.optim.AdamW after 5 steps:",
      max((p - q).abs().max().item() for p, q in zip(ours, theirs)))

# %% [markdown]
# ## 7. The MLP block of a transformer
#
# GPT-2's blocks are *pre-norm*: each sub-layer sees a normalised copy of the residual stream
# and adds its result back to it.
#
# ```
#          x ─────────────────────────────────────────────┐ (residual)
#          │                                              │
#          └─► LayerNorm ─► Linear(dim → hidden) ─► GELU ─► Linear(hidden → dim) ─► + ─► y
# ```
#
# $y = x + W_2\,\operatorname{gelu}(W_1\,\operatorname{LN}(x) + b_1) + b_2$, with the exact
# GELU and `hidden_dim = 4 · dim` by default. Build it **only from your Functions** (and the
# `+` of the residual): the grader walks the autograd graph of your output and expects
# `LayerNormFunction`, `LinearFunction`, `GELUFunction`, `LinearFunction` and nothing else that
# computes. The residual is why deep networks train: the gradient reaching $x$ is
# $\bar y + (\text{the MLP's contribution})$, so it never has to pass through every layer.
#
# `__init__` is given (keep the parameter names: the grader sets them); write `forward`.

# %% [solution id=mlp_block include=../../reference/backprop/mlp.py::MLPBlock]

# %% [markdown]
# ## 8. Everything together: digits, trained by your code alone
#
# A small network on scikit-learn's 8×8 handwritten digits (bundled with the library, no
# download): your `LinearFunction` embeds the 64 pixels, two of your `MLPBlock`s process them,
# your `DropoutFunction` regularises, your `LinearFunction` and `CrossEntropyFunction` classify,
# and your `AdamW` updates. `loss.backward()` here only walks the graph: every gradient it
# produces comes from a `backward` you wrote. Expect about 97 % test accuracy (give or take a
# point from epoch to epoch: 360 test images, each worth 0.3 %) in a few seconds.

# %%
class DigitsNet(nn.Module):
    def __init__(self, dim=64, classes=10, p=0.1):
        super().__init__()
        self.p = p
        self.embed_weight = nn.Parameter(torch.randn(dim, 64) / 8)
        self.embed_bias = nn.Parameter(torch.zeros(dim))
        self.blocks = nn.ModuleList([MLPBlock(dim), MLPBlock(dim)])
        self.head_weight = nn.Parameter(torch.randn(classes, dim) / math.sqrt(dim))

    def forward(self, pixels):
        h = LinearFunction.apply(pixels, self.embed_weight, self.embed_bias)  # (B, dim)
        for block in self.blocks:
            h = DropoutFunction.apply(block(h), self.p, self.training)
        return LinearFunction.apply(h, self.head_weight)  # (B, classes)


try:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.tensor(digits.data, dtype=torch.float32) / 16  # (1797, 64)
    labels = torch.tensor(digits.target)
except ImportError:  # no scikit-learn: random blobs, 10 classes
    centers = torch.randn(10, 64)
    labels = torch.randint(0, 10, (1797,))
    images = centers[labels] + 0.8 * torch.randn(1797, 64)
test_rows = torch.arange(len(labels)) % 5 == 0
torch.manual_seed(0)
net = DigitsNet()
optimizer = AdamW(net.parameters(), lr=1e-3, weight_decay=0.01)
train_x, train_y = images[~test_rows], labels[~test_rows]
for epoch in range(12):
    net.train()
    order = torch.randperm(len(train_y))
    for start in range(0, len(order), 64):
        batch = order[start:start + 64]
        loss = CrossEntropyFunction.apply(net(train_x[batch]), train_y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    net.eval()
    with torch.no_grad():
        accuracy = (net(images[test_rows]).argmax(1) == labels[test_rows]).float().mean().item()
    if epoch % 3 == 2:
        print(f"epoch {epoch + 1:2d}  last batch loss {loss.item():.3f}  test accuracy {accuracy:.1%}")

# %% [markdown]
# ## 9. Self-check
#
# The cell below runs the same kind of comparisons as the public tests (`dlgrade check
# notebook.ipynb` runs the public tests themselves): each of your pieces against torch's own
# autograd on small inputs, and gradcheck in float64. All lines should say `ok`. The hidden
# tests go further — 3-D and non-contiguous inputs, float64 and bfloat16, large logits and
# large means, frozen parameters, edge cases such as `p = 1` or a single class — so think about
# those cases too.

# %%
def compare(name, ours, theirs, inputs, grad_output=None):
    """Run `ours` and `theirs` on copies of `inputs`, backward with the same upstream gradient,
    and report the largest differences of outputs and gradients."""
    mine = [t.detach().clone().requires_grad_(t.is_floating_point()) for t in inputs]
    reference = [t.detach().clone().requires_grad_(t.is_floating_point()) for t in inputs]
    try:
        out = ours(*mine)
        expected = theirs(*reference)
        upstream = torch.randn(expected.shape, dtype=expected.dtype) if grad_output is None else grad_output
        out.backward(upstream)
        expected.backward(upstream)
        errors = [(out - expected).abs().max().item()] + [
            (a.grad - b.grad).abs().max().item() for a, b in zip(mine, reference) if b.grad is not None]
        ok = all(error <= 1e-4 for error in errors)
        print(f"{'ok  ' if ok else 'FAIL'} {name:32s} max error {max(errors):.1e}")
    except NotImplementedError:
        print(f"TODO {name}")
    except Exception as error:  # noqa: BLE001 - report and go on to the next check
        print(f"FAIL {name:32s} {type(error).__name__}: {error}")


x3 = torch.randn(2, 5, 12).transpose(1, 2)  # (2, 12, 5), non-contiguous
compare("linear (3-D, strided)", LinearFunction.apply, F.linear, [x3, torch.randn(7, 5), torch.randn(7)])
compare("relu", ReLUFunction.apply, F.relu, [torch.randn(4, 9)])
compare("gelu exact", GELUFunction.apply, F.gelu, [torch.randn(4, 9) * 3])
compare("gelu tanh", lambda t: GELUFunction.apply(t, "tanh"), lambda t: F.gelu(t, approximate="tanh"),
        [torch.randn(4, 9) * 3])
target = torch.tensor([1, -100, 3, 0, 2, 2])
compare("cross-entropy (x1000, ignored)", lambda z: CrossEntropyFunction.apply(z, target),
        lambda z: F.cross_entropy(z, target), [torch.randn(6, 4) * 1000], torch.tensor(1.0))
compare("layernorm (x + 100)", lambda *t: LayerNormFunction.apply(*t, 1e-5),
        lambda x, w, b: F.layer_norm(x, (16,), w, b, 1e-5), [torch.randn(3, 4, 16) + 100, torch.randn(16), torch.randn(16)])
compare("dropout (eval)", lambda t: DropoutFunction.apply(t, 0.5, False), lambda t: t * 1, [torch.randn(5, 5)])
for name, function, shapes in [
    ("gradcheck linear", LinearFunction.apply, [(3, 4), (2, 4), (2,)]),
    ("gradcheck gelu", GELUFunction.apply, [(3, 4)]),
    ("gradcheck layernorm", lambda *t: LayerNormFunction.apply(*t, 1e-5), [(3, 6), (6,), (6,)]),
]:
    inputs = tuple(torch.randn(s, dtype=torch.float64, requires_grad=True) for s in shapes)
    try:
        ok = torch.autograd.gradcheck(function, inputs, raise_exception=False)
        print(f"{'ok  ' if ok else 'FAIL'} {name}")
    except NotImplementedError:
        print(f"TODO {name}")

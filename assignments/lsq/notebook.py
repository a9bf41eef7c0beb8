# %% [markdown]
# # Learned Step Size Quantization (LSQ)
#
# A network that computes with 4-bit or 2-bit integers instead of 32-bit floats stores its
# weights in 8× or 16× less memory and multiplies them on integer units that cost a fraction of
# the energy of floating-point ones. The price is accuracy: rounding every weight and every
# activation to a handful of levels is a large perturbation. *Quantization-aware training* (QAT)
# pays most of that price back by training the network **through** the rounding, so that it
# learns weights that survive it.
#
# A uniform quantizer has one knob, its **step size** `s`: the distance between two neighbouring
# levels. Too large and every value lands on a few coarse levels; too small and large values are
# clipped. Esser et al. (*Learned Step Size Quantization*, ICLR 2020) make `s` a parameter like
# any weight and learn it by gradient descent, with two ideas you will implement:
#
# 1. a gradient for `s` that is sensitive to where a value sits between two levels, and
# 2. a scale `g` on that gradient, so that `s` learns at a pace comparable to the weights.
#
# With both, a ResNet at 3 bits matches its full-precision accuracy on ImageNet. Here you will
# see the same effect on a small MLP and the 8×8 digits of scikit-learn, on a laptop CPU.
#
# **What you build** (points out of 100):
#
# | part | what | points |
# | --- | --- | --- |
# | `quantize` | `lsq_quantize(v, s, qn, qp, g)`: the fake-quantizer and its gradients | 25 |
# | `quantizer` | `LSQQuantizer`: ranges, initialisation of `s`, gradient scale `g` | 20 |
# | `quant_linear` | `QuantLinear`: a linear layer with quantized input and weight | 15 |
# | `export` | `export_int`, `int_linear`: integer weights and integer inference | 15 |
# | `train` | `train_qat(...)`: training at 4 and 2 bits | 25 |
#
# **Targets.** There is no speed part. Grading runs on 2 CPU cores: `train_qat` with its default
# arguments trains in a few seconds on one core; the W4A4 model must stay within 2 points of
# the float model's test accuracy and within 2 points of the reference's (W2A2: 3 points).
# PyTorch's fake-quantize operators (`torch.fake_quantize_*`, and
# `torch._fake_quantize_learnable_*`, which *is* LSQ) may not be used: the point is to write it.
#
# Check your work locally at any time with `dlgrade check notebook.ipynb` (the public tests), and
# with the small self-check cells below each part.

# %% [provided id=imports]
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

# %%
# The models here are tiny: one thread is the fastest, and it keeps your timings comparable.
torch.set_num_threads(1)
try:
    import matplotlib.pyplot as plt
except ImportError:  # the figures are optional
    plt = None

# %% [markdown]
# ## The conventions the grader holds
#
# Read this table once now and again whenever a test fails: the hidden tests check exactly these
# rules, and nothing else is assumed.
#
# | topic | convention |
# | --- | --- |
# | quantizer | $\hat v = \operatorname{round}(\operatorname{clip}(v/s, -Q_N, Q_P))\cdot s$; compute `v / s` as a division |
# | rounding | half to even, as `torch.round` does: 0.5 → 0, 1.5 → 2, 2.5 → 2, −0.5 → −0 |
# | `qn`, `qp` | integers, `qn ≥ 0` counts the levels below zero: codes lie in $[-Q_N, Q_P]$ |
# | signed `b` bits | $Q_N = 2^{b-1}$, $Q_P = 2^{b-1}-1$ (4 bits: [−8, 7]); used for weights |
# | unsigned `b` bits | $Q_N = 0$, $Q_P = 2^{b}-1$ (4 bits: [0, 15]); used for inputs (after a ReLU, or pixels) |
# | bits | 2 to 8 |
# | gradient of `v` | upstream gradient where $-Q_N < v/s < Q_P$ **strictly**, 0 elsewhere (ends included) |
# | gradient of `s` | $g\cdot\sum$ upstream $\cdot\,(\operatorname{round}(v/s)-v/s)$ strictly inside; $-Q_N$ at or below $-Q_N$; $Q_P$ at or above $Q_P$ (eq. 3 of the paper) |
# | `s` | an `nn.Parameter` created in `__init__` (shape `()`), so an optimizer built before the first forward holds it |
# | initialisation | the first forward (any mode, also under `no_grad`) sets `s` **in place** to $2\,\overline{|v|}/\sqrt{Q_P}$, once; a buffer `initialized` records it (and travels with the `state_dict`) |
# | per channel | one step per index of `channel_dim`; `s` keeps `v`'s number of dimensions with 1 elsewhere: weight `(out, in)` → `s` `(out, 1)` |
# | `g` | $1/\sqrt{N Q_P}$, $N$ = elements of **one sample** sharing one step size: `v.numel() // s.numel()`, further divided by `v.shape[batch_dim]` when `batch_dim` is set (activations) |
# | `QuantLinear` | `weight_quantizer`: `LSQQuantizer(w_bits, signed=True, per_channel, channel_dim=0)`; `input_quantizer`: `LSQQuantizer(a_bits, signed=a_signed, batch_dim=0)`; either is `None` when its bits are `None`; the bias is never quantized; eval mode computes exactly what training mode computes |
# | `export_int` | `int_weight`: `torch.int8` codes `round(clip(W / s_w, -qn, qp))`; `w_scale`: the step size, shape of `s` |
# | `int_linear` | integer codes of `x` (int32), int32 product with `int_weight`, one float rescale by $s_x s_w$, float bias |
# | data | scikit-learn's digits, pixels / 16 (float32, `(N, 64)`); image `i` is a test image when `i % 5 == 0` (360 test, 1437 train) |
# | `train_qat` | `train_qat(w_bits=4, a_bits=4, epochs=20, seed=0, lr=0.1, batch_size=64, hidden=128) -> (model, test_accuracy)`; `None` bits train in float; accuracy is a fraction in [0, 1] of the returned model (in eval mode) on the 360 test images |

# %% [markdown]
# ## Part 1 — the quantizer and its gradients (`quantize`)
#
# **Forward.** Divide by the step, clip to the integer range, round, multiply back:
#
# $$\hat v = \operatorname{round}\!\big(\operatorname{clip}(v/s,\,-Q_N,\,Q_P)\big)\cdot s .$$
#
# The integer $\operatorname{round}(\operatorname{clip}(v/s))$ is the **code** a deployment stores;
# $\hat v$ is that code put back on the float scale (*fake quantization*), so the rest of the network
# runs unchanged in float while seeing exactly the values the integer hardware would.
#
# **Gradient of `v`.** `round` has zero derivative almost everywhere, which would stop all
# learning. The *straight-through estimator* pretends `round` is the identity. Clipping is real,
# though: beyond the range $\hat v$ does not move when $v$ does. So
# $\partial\hat v/\partial v = 1$ for $-Q_N < v/s < Q_P$ and $0$ otherwise.
#
# **Gradient of `s`.** Inside the range, $\hat v = s\cdot\operatorname{round}(v/s)$. Differentiate
# the product, and treat `round` as the identity only where it is differentiated:
#
# $$\frac{\partial \hat v}{\partial s} = \operatorname{round}(v/s) + s\cdot\frac{\partial}{\partial s}\frac{v}{s}
#   = \operatorname{round}(v/s) - \frac{v}{s}.$$
#
# This is LSQ's key choice: the gradient is large for a value near a **transition** between two
# levels (where a small change of `s` flips its code) and zero for a value sitting exactly on a
# level. Earlier methods cancelled the two terms and got 0 inside the range. Beyond the range
# $\hat v = -Q_N s$ or $Q_P s$, so the derivative is $-Q_N$ or $Q_P$. At $v/s$ exactly equal to
# $-Q_N$ or $Q_P$ the paper takes the clipped branch (both gradients): follow it.
#
# Since `s` is shared by many elements, its gradient is the **sum** over them, and finally
# multiplied by `g` (Part 2 explains why). `s` may be a 0-d tensor (one step for the whole
# tensor) or have shape with ones, e.g. `(C, 1)`, broadcasting over `v`: then each step's gradient
# sums over the elements that share it (`Tensor.sum_to_size` does exactly this).
#
# Write it as a `torch.autograd.Function` with an explicit `backward`: you will see every term.
# (The paper's appendix writes it instead with two detach tricks, "roundpass" and "gradscale";
# the public tests use that form as an independent check. It differs from eq. 3 only at the
# range's ends, where `torch.clamp`'s gradient counts the ends as inside.)

# %% [solution id=lsq_quantize include=../../reference/lsq/quantize.py::LSQFunction,lsq_quantize]

# %% [markdown]
# The picture of Part 1 (the paper's Figure 2): the staircase $\hat v(v)$ for a 2-bit signed
# quantizer with $s = 1$, and the gradient $\partial\hat v/\partial s$ your backward computes. Inside
# the range it is a sawtooth: zero on each level, largest in magnitude next to each transition.

# %%
if plt is not None:
    v = torch.linspace(-3.5, 2.5, 601)
    # One step size per element (all equal to 1): then s.grad[i] is d v_hat[i] / d s, unsummed.
    s = torch.ones(601, requires_grad=True)
    v_hat = lsq_quantize(v, s, 2, 1, 1.0)
    v_hat.sum().backward()
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    left.plot(v, v_hat.detach(), label=r"$\hat v$ (2-bit signed, $s=1$)")
    left.plot(v, v, "--", color="gray", label="$v$")
    left.set_xlabel("$v$"); left.legend(); left.set_title("forward: clip and round")
    right.plot(v, s.grad)
    right.axhline(0, color="gray", lw=0.5)
    right.set_xlabel("$v$"); right.set_title(r"backward: $\partial\hat v / \partial s$ (LSQ)")
    plt.tight_layout(); plt.show()

# %% [markdown]
# A self-check of Part 1 against the paper's "roundpass / gradscale" form (away from the ends).

# %%
def lsq_round_pass(v, s, qn, qp, g):
    """LSQ with the paper's detach tricks: value as written, gradient as if through the trick."""
    s_scaled = (s - s * g).detach() + s * g                              # value s, gradient g·
    v_over_s = torch.clamp(v / s_scaled, -qn, qp)
    rounded = (torch.round(v_over_s) - v_over_s).detach() + v_over_s    # value round(), gradient 1
    return rounded * s_scaled


s = torch.tensor(0.25)
print("codes:", (lsq_quantize(torch.tensor([-3.0, -0.375, 0.125, 0.375, 0.625, 5.0]), s, 8, 7, 1.0) / s).tolist(),
      "(expected [-8, -2, 0, 2, 2, 7]: ties go to even codes)")
generator = torch.Generator().manual_seed(0)
v = (torch.randn(100, generator=generator) * 2).requires_grad_()
s = torch.tensor(0.3, requires_grad=True)
upstream = torch.randn(100, generator=generator)
lsq_quantize(v, s, 4, 3, 0.1).backward(upstream)
v2, s2 = v.detach().clone().requires_grad_(), s.detach().clone().requires_grad_()
lsq_round_pass(v2, s2, 4, 3, 0.1).backward(upstream)
torch.testing.assert_close(v.grad, v2.grad)
torch.testing.assert_close(s.grad, s2.grad, rtol=1e-4, atol=1e-6)
print("gradients match the round-pass form")

# %% [markdown]
# ## Part 2 — a module that owns a learned step size (`quantizer`)
#
# **Initialisation.** A good first `s` puts the levels where the values are. LSQ uses
# $s_0 = 2\,\overline{|v|}/\sqrt{Q_P}$, computed from the first tensor the quantizer sees: the
# weights themselves for a weight quantizer, the first mini-batch for an activation quantizer.
# That is why it happens in the first `forward`, not in `__init__`. It must happen **once**: after
# that, `s` belongs to the optimizer. Keep `s` as the same `nn.Parameter` (set `self.s.data`), so
# that an optimizer built right after the model was constructed still updates it; and keep the
# "initialised" flag in a buffer, so a model loaded from a checkpoint does not re-initialise.
#
# **Why scale the gradient by g.** Training is stable when every parameter's update is small
# relative to its value, with similar ratios $\lVert\Delta p\rVert/\lVert p\rVert$ across parameters. The step
# size's gradient is a sum over the $N$ elements that share it, so it grows roughly like
# $\sqrt{N}$, while a step size's value shrinks as the levels get finer, like $1/\sqrt{Q_P}$
# (that is the initialisation above). Multiplying its gradient by
#
# $$g = \frac{1}{\sqrt{N\,Q_P}}$$
#
# brings its update-to-value ratio back in line with the weights'. $N$ counts the elements of
# **one sample** sharing the step: all weights of the layer (or of one channel, per channel); for
# activations the features of one sample: `x.numel() // x.shape[batch_dim]`. The batch size
# must not appear: the loss is a mean over the batch already.
#
# (A side note you can verify below: with Adam, which divides each gradient by its own running
# RMS, `g` mostly cancels. The paper trains with SGD and momentum, and so do we.)

# %% [solution id=quantizer include=../../reference/lsq/quantize.py::LSQQuantizer]

# %%
weight_quantizer = LSQQuantizer(4, signed=True)
w = torch.randn(128, 64) / 8
weight_quantizer(w)
print("qn, qp:", weight_quantizer.qn, weight_quantizer.qp, " s:", weight_quantizer.s.item(),
      " expected s:", float(2 * w.abs().mean() / math.sqrt(7)))
print("g for this weight:", weight_quantizer.grad_scale(w), " = 1/sqrt(128*64*7) =", 1 / math.sqrt(128 * 64 * 7))
input_quantizer = LSQQuantizer(4, signed=False, batch_dim=0)
for batch in (8, 64):
    x = torch.rand(batch, 64)
    input_quantizer(x)
    print(f"g for an input batch of {batch}:", input_quantizer.grad_scale(x), "(must not depend on the batch)")

# %% [markdown]
# ## Part 3 — a quantized linear layer (`quant_linear`)
#
# `QuantLinear` is an `nn.Linear` whose forward quantizes its **input** and its **weight** before
# the product: $y = \hat x\,\hat W^\top + b$. The weight's codes are signed (weights have both
# signs); the input's are unsigned, since the inputs of our layers are pixels in [0, 1] or come out
# of a ReLU (pass `a_signed=True` for inputs of both signs). The bias stays in float: in an
# integer deployment it is added to the int32 accumulator after rescaling (Part 4), and it costs
# a handful of values per layer. Eval mode must compute exactly what training mode computes:
# you want to measure the model you trained.
#
# `w_bits=None` or `a_bits=None` leaves that side in float (the quantizer attribute is `None`),
# which gives the float baseline from the same code.

# %% [solution id=quant_linear include=../../reference/lsq/layers.py::QuantLinear]

# %% [markdown]
# The model and the data are given (your `train_qat` uses them): a three-layer MLP built from your
# `QuantLinear`, the digits split, and an accuracy helper.

# %% [provided id=model_and_data]
# Copy of reference/lsq/layers.py::MLP and train.py::load_digits_split,accuracy:
# one cell cannot include from two files.
class MLP(nn.Module):
    """64 pixels -> hidden -> hidden -> 10 classes, every layer a QuantLinear."""

    def __init__(self, hidden=128, w_bits=4, a_bits=4):
        super().__init__()
        self.fc1 = QuantLinear(64, hidden, w_bits=w_bits, a_bits=a_bits)
        self.fc2 = QuantLinear(hidden, hidden, w_bits=w_bits, a_bits=a_bits)
        self.fc3 = QuantLinear(hidden, 10, w_bits=w_bits, a_bits=a_bits)

    def forward(self, x):                 # x: (B, 64), pixels / 16
        x = F.relu(self.fc1(x))           # (B, hidden)
        x = F.relu(self.fc2(x))           # (B, hidden)
        return self.fc3(x)                # (B, 10) logits


def load_digits_split():
    """(x_train, y_train, x_test, y_test): pixels / 16 as float32 (N, 64), labels int64 (N,).
    Image i is a test image when i % 5 == 0: 360 test, 1437 train, no randomness."""
    from sklearn.datasets import load_digits  # here: importing scikit-learn takes a second

    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16.0  # (1797, 64) in [0, 1]
    y = torch.tensor(digits.target, dtype=torch.int64)          # (1797,)
    is_test = torch.arange(len(y)) % 5 == 0
    return x[~is_test], y[~is_test], x[is_test], y[is_test]


@torch.no_grad()
def accuracy(model, x, y):
    """Fraction of x the model classifies correctly (in eval mode)."""
    was_training = model.training
    model.eval()
    correct = (model(x).argmax(dim=1) == y).sum().item()
    model.train(was_training)
    return correct / len(y)

# %%
layer = QuantLinear(20, 12, w_bits=4, a_bits=4)
x = torch.rand(6, 20)
y = layer(x)
x_hat = lsq_round_pass(x, layer.input_quantizer.s.detach(), 0, 15, 1.0)
w_hat = lsq_round_pass(layer.weight.detach(), layer.weight_quantizer.s.detach(), 8, 7, 1.0)
torch.testing.assert_close(y, F.linear(x_hat, w_hat, layer.bias))
layer.eval()
assert torch.equal(layer(x), y), "eval mode must compute what training mode computes"
print(layer, "\nforward matches; distinct weight values:", torch.unique(layer.weight_quantizer(layer.weight)).numel())

# %% [markdown]
# ## Part 4 — integer weights and integer inference (`export`)
#
# Fake quantization was a training device. A deployment stores the **codes**: for the weight,
# `int_weight = round(clip(W / s_w, -qn, qp))` as `torch.int8` (4-bit codes fit in a nibble;
# we keep one per byte for simplicity), and the float step `w_scale = s_w`. Because both step
# sizes are scalars (or one per output row), they factor out of the dot product:
#
# $$y_j = \sum_i (s_x\, x^{\text{int}}_i)(s_w\, W^{\text{int}}_{ji}) + b_j
#       = s_x\, s_w \underbrace{\sum_i x^{\text{int}}_i W^{\text{int}}_{ji}}_{\text{int32 accumulator}} + b_j .$$
#
# So the whole matrix product runs on integers, and only one multiply per output returns to
# float. With 4-bit codes, $|x^{\text{int}} W^{\text{int}}| \le 15\cdot 8$, so even a 10⁶-wide
# layer cannot overflow an int32 accumulator. Per channel, column $j$ uses its own $s_w[j]$.
#
# `export_int(layer)` returns `(int_weight, w_scale)`; `int_linear(layer, x)` computes the layer
# that way: codes of `x` with the input quantizer's step (int32), the int32 product, the rescale,
# the float bias. Both read the layer's initialised quantizers, so call them after at least one
# forward. Its result equals `layer(x)` up to float rounding.

# %% [solution id=export include=../../reference/lsq/export.py]

# %%
int_weight, w_scale = export_int(layer)
print("int_weight:", int_weight.dtype, tuple(int_weight.shape), "codes from", int(int_weight.min()),
      "to", int(int_weight.max()), " w_scale:", float(w_scale))
with torch.no_grad():
    print("max |int_linear - layer|:", float((int_linear(layer, x) - layer(x)).abs().max()))

# %% [markdown]
# ## Part 5 — quantization-aware training (`train_qat`)
#
# ```python
# train_qat(w_bits=4, a_bits=4, epochs=20, seed=0, lr=0.1, batch_size=64, hidden=128) -> (model, test_accuracy)
# ```
#
# The recipe (the grader compares your accuracy with the reference's, which follows it; you need
# not reproduce it bit for bit, but stray far and your accuracy may too):
#
# 1. `x_train, y_train, x_test, y_test = load_digits_split()`.
# 2. `torch.manual_seed(seed)`, then `model = MLP(hidden, w_bits, a_bits)` (bits `None`: float).
# 3. A `torch.Generator().manual_seed(seed)` for the order: every epoch a fresh
#    `torch.randperm(len(y_train), generator=...)`, cut into mini-batches of `batch_size`
#    (the last one shorter).
# 4. `torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)`: the step sizes are parameters and
#    train with everything else. A cosine schedule (`CosineAnnealingLR`) from `lr` to 0 over all
#    `epochs * ceil(1437 / batch_size)` steps, stepped after every mini-batch.
# 5. Cross-entropy loss. No special initialisation step is needed: the first mini-batch's forward
#    initialises every quantizer (weights from the weights, inputs from that batch).
# 6. Return the model **in eval mode** and `accuracy(model, x_test, y_test)` (a float in [0, 1]).
#
# The seed decides everything, so the same call gives the same model. The paper starts QAT from a
# trained float model; on the digits training from scratch works as well and is simpler.

# %% [solution id=train include=../../reference/lsq/train.py::train_qat]

# %% [markdown]
# Train the float baseline, W4A4 and W2A2 (a few seconds each). The reference, on the seed 0,
# reaches about 97% in float, 97–98% at W4A4 and 96–97% at W2A2 (over 30 seeds: 97.3 ± 0.4,
# 97.2 ± 0.5 and 96.6 ± 0.5).

# %%
import time

results = {}
for name, w_bits, a_bits in [("float", None, None), ("W4A4", 4, 4), ("W2A2", 2, 2)]:
    started = time.perf_counter()
    model, test_accuracy = train_qat(w_bits=w_bits, a_bits=a_bits, seed=0)
    results[name] = (model, test_accuracy)
    print(f"{name:>6}: test accuracy {test_accuracy:.2%}  ({time.perf_counter() - started:.1f} s)")

# %% [markdown]
# What did the step sizes learn? Compare each quantizer's `s` with its initial value, and look
# at the weights of the middle layer against the 4-bit grid they are rounded to.

# %%
model = results["W4A4"][0]
for name, module in model.named_modules():
    if isinstance(module, LSQQuantizer):
        print(f"{name:<22} s = {module.s.item():.4f}")
if plt is not None:
    layer = model.fc2
    s_w = layer.weight_quantizer.s.item()
    plt.figure(figsize=(8, 3))
    plt.hist(layer.weight.detach().flatten(), bins=200, color="tab:blue")
    for code in range(-8, 8):
        plt.axvline(code * s_w, color="tab:red", lw=0.6)
    plt.title("fc2 weights (float shadow copy) and the 16 levels of the learned 4-bit grid")
    plt.xlabel("weight"); plt.tight_layout(); plt.show()

# %% [markdown]
# ### Deploying the integer model
#
# Run the whole W4A4 MLP through `int_linear`: the matrix products are integer, only the
# rescales and the ReLU are float (a real accelerator folds those into a fixed-point multiply).
# It must classify exactly as the fake-quant model does. Then count the bytes: 4-bit codes packed
# two per byte, one float32 step per quantizer, float32 biases.

# %%
x_train, y_train, x_test, y_test = load_digits_split()
with torch.no_grad():
    h = F.relu(int_linear(model.fc1, x_test))
    h = F.relu(int_linear(model.fc2, h))
    int_logits = int_linear(model.fc3, h)
    fake_logits = model(x_test)
int_accuracy = (int_logits.argmax(1) == y_test).float().mean().item()
print(f"integer inference accuracy {int_accuracy:.2%}, fake-quant {results['W4A4'][1]:.2%}, "
      f"same predictions: {bool(torch.equal(int_logits.argmax(1), fake_logits.argmax(1)))}")
float_bytes = sum(p.numel() * 4 for name, p in results["float"][0].named_parameters())
layers = [model.fc1, model.fc2, model.fc3]
int4_bytes = sum(math.ceil(l.weight.numel() / 2) + l.bias.numel() * 4 + 2 * 4 for l in layers)
print(f"float32 model: {float_bytes} bytes; W4 model: {int4_bytes} bytes ({float_bytes / int4_bytes:.1f}x smaller)")

# %% [markdown]
# ### Optional: PyTorch's own quantization-aware training
#
# PyTorch's `torch.ao.quantization.FakeQuantize` also fake-quantizes in training, but it does not
# learn its scale: an observer tracks a moving average of the min and max of what it sees and sets
# the scale from them. Below, the same MLP and recipe with those fake-quantizers instead of LSQ
# (not graded; `torch.ao.quantization` is being moved out of PyTorch, so this cell may stop
# working in a later version). At 4 bits the two are close; at 2 bits, where a min/max range
# wastes most of the 4 levels on rare large values, learning the step pays.

# %%
try:
    import warnings

    from torch.ao.quantization import FakeQuantize, MovingAverageMinMaxObserver

    class MinMaxQATLinear(nn.Linear):
        def __init__(self, in_features, out_features, bits):
            super().__init__(in_features, out_features)
            self.weight_fake_quant = FakeQuantize(
                observer=MovingAverageMinMaxObserver, quant_min=-2 ** (bits - 1), quant_max=2 ** (bits - 1) - 1,
                dtype=torch.qint8, qscheme=torch.per_tensor_symmetric)
            self.input_fake_quant = FakeQuantize(
                observer=MovingAverageMinMaxObserver, quant_min=0, quant_max=2 ** bits - 1,
                dtype=torch.quint8, qscheme=torch.per_tensor_affine)

        def forward(self, x):
            return F.linear(self.input_fake_quant(x), self.weight_fake_quant(self.weight), self.bias)

    def train_minmax_qat(bits, epochs=20, seed=0, lr=0.1, batch_size=64, hidden=128):
        torch.manual_seed(seed)
        fc1, fc2, fc3 = MinMaxQATLinear(64, hidden, bits), MinMaxQATLinear(hidden, hidden, bits), MinMaxQATLinear(hidden, 10, bits)
        net = nn.Sequential(fc1, nn.ReLU(), fc2, nn.ReLU(), fc3)
        shuffle = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * math.ceil(len(y_train) / batch_size))
        for _ in range(epochs):
            order = torch.randperm(len(y_train), generator=shuffle)
            for start in range(0, len(y_train), batch_size):
                batch = order[start:start + batch_size]
                loss = F.cross_entropy(net(x_train[batch]), y_train[batch])
                optimizer.zero_grad(); loss.backward(); optimizer.step(); schedule.step()
        return accuracy(net, x_test, y_test)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for bits, lsq_name in [(4, "W4A4"), (2, "W2A2")]:
            print(f"W{bits}A{bits}: min/max fake-quant {train_minmax_qat(bits):.2%}   LSQ {results[lsq_name][1]:.2%}")
except ImportError as error:
    print("torch.ao.quantization is not available here:", error)

# %% [markdown]
# ## Check your work
#
# Run the public tests from a terminal: `dlgrade check notebook.ipynb`. They compare your code with
# small independent implementations (the round-pass form above, Python's own rounding, a direct
# recomputation of the accuracy). The hidden tests go further: rounding ties, the range's ends,
# per-channel steps, `g` measured as a ratio of gradients, initialisation once, eval mode,
# integer codes, and the three trainings above compared with the reference's. The cell below is a
# quick local summary.

# %%
def self_check():
    s = torch.tensor(0.5)
    assert (lsq_quantize(torch.tensor([1.25, 0.75, -4.5]), s, 8, 7, 1.0) / s).tolist() == [2.0, 2.0, -8.0]
    v = torch.tensor([-4.0, 3.5], requires_grad=True)
    s = torch.tensor(0.5, requires_grad=True)
    lsq_quantize(v, s, 8, 7, 1.0).sum().backward()
    assert v.grad.tolist() == [0.0, 0.0] and s.grad.item() == -1.0, "range ends take the clipped branch"
    quantizer = LSQQuantizer(3, signed=False, batch_dim=0)
    quantizer(torch.ones(4, 10))
    quantizer(torch.ones(4, 10) * 100)
    assert abs(quantizer.s.item() - 2 / math.sqrt(7)) < 1e-6, "initialise s once"
    assert (LSQQuantizer(2, True).qn, LSQQuantizer(2, True).qp, LSQQuantizer(2, False).qp) == (2, 1, 3)
    layer = QuantLinear(6, 3, per_channel=True)
    layer(torch.rand(2, 6))
    assert tuple(layer.weight_quantizer.s.shape) == (3, 1)
    assert export_int(layer)[0].dtype == torch.int8
    print("self-check passed")


self_check()

import pytest
import torch

import helpers

pytestmark = pytest.mark.part("adamw")

HINT_UPDATE = ("θ ← θ(1 − lr·λ); m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²; "
               "θ ← θ − lr·(m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + eps)")
HINT_DECAY = "AdamW decays the weights directly (θ ← θ(1 − lr·λ)); it does not add λθ to the gradient"
HINT_EPS = "eps is added after the square root: √v̂ + eps"
HINT_STEP = "count steps per parameter: a parameter without a gradient is skipped and its step count does not advance"

SHAPES = [(17, 9), (9,), (4, 3, 5)]


def make_params(rng, shapes=SHAPES, dtype=torch.float32):
    return [torch.randn(shape, generator=rng, dtype=dtype) for shape in shapes]


def run_steps(impl, rng, start, options, steps=5, grad_scale=1.0, skip=None):
    """Run the student's AdamW and torch.optim.AdamW side by side on the same gradients.

    Returns the student's parameters after every step and the largest difference from torch's.
    `skip` maps a step number to the indices of parameters that get no gradient that step."""
    ours = [helpers.leaf(p.clone()) for p in start]
    theirs = [p.clone().requires_grad_() for p in start]
    optimizer = impl.AdamW(ours, **options)
    expected = torch.optim.AdamW(theirs, **options)
    history = []
    for step in range(1, steps + 1):
        for index, (param, reference) in enumerate(zip(ours, theirs)):
            if skip and index in skip.get(step, ()):
                param.grad = reference.grad = None
                continue
            grad = torch.randn(param.shape, generator=rng, dtype=param.dtype) * grad_scale
            param.grad, reference.grad = grad.clone(), grad.clone()
        optimizer.step()
        expected.step()
        for index, (param, reference) in enumerate(zip(ours, theirs)):
            torch.testing.assert_close(param.detach(), reference.detach(),
                                       msg=lambda m: f"parameter {index} after step {step} differs from torch.optim.AdamW: {m}")
        history.append([param.detach().clone() for param in ours])
    return ours, history


def check_history(check, history, hint=HINT_UPDATE):
    for step, params in enumerate(history, start=1):
        for index, param in enumerate(params):
            check(f"param{index}_step{step}", param, hint=hint)


@pytest.mark.weight(3)
def test_five_steps_default_hyperparameters(impl, rng, check):
    """AdamW(params) with no options: lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2."""
    start = make_params(rng)
    ours = [helpers.leaf(p.clone()) for p in start]
    theirs = [p.clone().requires_grad_() for p in start]
    optimizer, expected = impl.AdamW(ours), torch.optim.AdamW(theirs)
    for step in range(1, 6):
        for param, reference in zip(ours, theirs):
            grad = torch.randn(param.shape, generator=rng)
            param.grad, reference.grad = grad.clone(), grad.clone()
        optimizer.step()
        expected.step()
    for index, (param, reference) in enumerate(zip(ours, theirs)):
        torch.testing.assert_close(param.detach(), reference.detach())
        check(f"param{index}", param.detach(), hint="use torch.optim.AdamW's defaults: " + HINT_UPDATE)


@pytest.mark.weight(3)
def test_five_steps_custom_hyperparameters(impl, rng, check):
    options = {"lr": 3e-2, "betas": (0.8, 0.95), "eps": 1e-6, "weight_decay": 0.1}
    _, history = run_steps(impl, rng, make_params(rng), options)
    check_history(check, history)


@pytest.mark.weight(2)
def test_decoupled_weight_decay(impl, rng, check):
    """Strong decay (λ = 0.5, lr = 0.1) makes decoupled and L2-style decay far apart."""
    options = {"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.5}
    _, history = run_steps(impl, rng, make_params(rng), options)
    check_history(check, history, hint=HINT_DECAY)


def test_no_weight_decay_is_adam(impl, rng, check):
    options = {"lr": 1e-2, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}
    _, history = run_steps(impl, rng, make_params(rng), options)
    check_history(check, history)


@pytest.mark.weight(2)
def test_tiny_gradients_eps_placement(impl, rng, check):
    """Gradients of 1e-9: √v̂ ≈ 1e-9 is far below eps = 1e-8, so eps decides the step size."""
    options = {"lr": 1e-2, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}
    _, history = run_steps(impl, rng, make_params(rng), options, grad_scale=1e-9)
    check_history(check, history, hint=HINT_EPS)


@pytest.mark.weight(2)
def test_parameter_without_gradient_is_skipped(impl, rng, check):
    """Parameter 1 gets no gradient at steps 2 and 3, parameter 2 none at step 1."""
    options = {"lr": 1e-2, "betas": (0.9, 0.99), "eps": 1e-8, "weight_decay": 0.05}
    skip = {1: (2,), 2: (1,), 3: (1,)}
    _, history = run_steps(impl, rng, make_params(rng), options, skip=skip)
    check_history(check, history, hint=HINT_STEP)


def test_float64_parameters(impl, rng, check):
    options = {"lr": 1e-2, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01}
    _, history = run_steps(impl, rng, make_params(rng, dtype=torch.float64), options)
    check_history(check, history)


def test_noncontiguous_parameter(impl, rng, check):
    """A parameter stored transposed: in-place updates must write through its strides."""
    start = [torch.randn(12, 7, generator=rng).t(), torch.randn(5, generator=rng)]
    options = {"lr": 1e-2, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01}
    _, history = run_steps(impl, rng, start, options)
    check_history(check, history)


def test_gradients_left_untouched_and_zero_grad(impl, rng, check):
    """step() reads the gradients without changing them; zero_grad() clears them (None or 0)."""
    params = [helpers.leaf(p) for p in make_params(rng)]
    optimizer = impl.AdamW(params, lr=1e-2, weight_decay=0.1)
    grads = [torch.randn(p.shape, generator=rng) for p in params]
    for param, grad in zip(params, grads):
        param.grad = grad.clone()
    optimizer.step()
    for index, (param, grad) in enumerate(zip(params, grads)):
        check.exact(f"change_to_grad_{index}_by_step", param.grad - grad,
                    hint="do not modify param.grad in step(): " + HINT_DECAY)
        check(f"param_{index}_after_step", param.detach())
    optimizer.zero_grad()
    check.exact("grads_after_zero_grad", [param.grad for param in params],
                hint="zero_grad sets every parameter's .grad to None")


@pytest.mark.weight(2)
def test_training_a_model_matches_torch(impl, rng, check):
    """A small regression model trained for 5 steps (gradients from autograd, updates from your
    AdamW) ends where torch.optim.AdamW ends."""
    model = torch.nn.Sequential(torch.nn.Linear(10, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=rng) * 0.3)
    twin = torch.nn.Sequential(torch.nn.Linear(10, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))
    twin.load_state_dict(model.state_dict())
    inputs, targets = torch.randn(64, 10, generator=rng), torch.randn(64, 1, generator=rng)
    optimizer = impl.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    expected = torch.optim.AdamW(twin.parameters(), lr=1e-2, weight_decay=0.1)
    for _ in range(5):
        for net, opt in ((model, optimizer), (twin, expected)):
            opt.zero_grad()
            ((net(inputs) - targets) ** 2).mean().backward()
            opt.step()
    for name, param in model.named_parameters():
        torch.testing.assert_close(param, dict(twin.named_parameters())[name])
        check(name, param.detach(), hint=HINT_UPDATE)

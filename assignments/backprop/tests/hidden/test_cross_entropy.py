import pytest
import torch
import torch.nn.functional as F

import helpers

pytestmark = pytest.mark.part("cross_entropy")

HINT_STABLE = "subtract each row's maximum before exp: log Σ exp(z) = m + log Σ exp(z − m)"
HINT_GRAD = "the gradient of one row is softmax(z) − onehot(target), divided by the number of non-ignored rows"
HINT_MEAN = "average over the rows whose target is not ignore_index, not over all N rows"


def targets(rng, n, classes, ignore_every=0, ignore_index=-100):
    target = torch.randint(0, classes, (n,), generator=rng)
    if ignore_every:
        target[::ignore_every] = ignore_index
    return target


def run(impl, rng, logits, target, *args, grad_loss=None):
    logits = helpers.leaf(logits)
    loss = impl.CrossEntropyFunction.apply(logits, target, *args)
    loss.backward(grad_loss)
    return loss, logits.grad


def check_loss(check, loss, grad, hint_loss=None, hint_grad=HINT_GRAD):
    assert loss.dim() == 0, f"the loss must be a scalar (0-d tensor), got shape {tuple(loss.shape)}"
    check("loss", loss, hint=hint_loss)
    check("grad_logits", grad, hint=hint_grad)


def test_vjp_float64(impl, rng, check):
    logits = (torch.randn(6, 5, generator=rng, dtype=torch.float64) * 2).requires_grad_()
    target = targets(rng, 6, 5, ignore_every=4)
    helpers.record_vjps(check, lambda z: impl.CrossEntropyFunction.apply(z, target), [logits], rng, hint=HINT_GRAD)


@pytest.mark.weight(3)
def test_realistic_float32_matches_autograd(impl, rng, check):
    """512 rows over a 1000-class vocabulary, every 7th row ignored."""
    logits = torch.randn(512, 1000, generator=rng) * 3
    target = targets(rng, 512, 1000, ignore_every=7)
    loss, grad = run(impl, rng, logits, target)
    reference = logits.clone().requires_grad_()
    expected = F.cross_entropy(reference, target)
    expected.backward()
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(grad, reference.grad)
    check_loss(check, loss, grad)


@pytest.mark.weight(3)
@pytest.mark.parametrize("scale", [1000.0, 1e5], ids=["x1000", "x100000"])
def test_large_logits_are_stable(impl, rng, check, scale):
    """logits × 1000: exp overflows float32 (exp(89) = inf) unless the row maximum is subtracted."""
    logits = torch.randn(64, 50, generator=rng) * scale
    target = targets(rng, 64, 50)
    loss, grad = run(impl, rng, logits, target)
    assert torch.isfinite(loss), f"loss is {loss.item()}: {HINT_STABLE}"
    check_loss(check, loss, grad, hint_loss=HINT_STABLE, hint_grad=HINT_STABLE)


@pytest.mark.weight(2)
def test_large_offset_is_stable(impl, rng, check):
    """Adding a constant to a row leaves softmax unchanged; + 1000 must not overflow, − 1000 not
    underflow to log(0)."""
    logits = torch.randn(32, 20, generator=rng)
    logits[:16] += 1000
    logits[16:] -= 1000
    target = targets(rng, 32, 20)
    loss, grad = run(impl, rng, logits, target)
    check_loss(check, loss, grad, hint_loss=HINT_STABLE, hint_grad=HINT_STABLE)


@pytest.mark.weight(2)
def test_mean_over_non_ignored_rows(impl, rng, check):
    """Most rows ignored: the mean is over the 5 that are not."""
    logits = torch.randn(40, 9, generator=rng)
    target = torch.full((40,), -100)
    target[torch.randperm(40, generator=rng)[:5]] = torch.randint(0, 9, (5,), generator=rng)
    loss, grad = run(impl, rng, logits, target)
    check_loss(check, loss, grad, hint_loss=HINT_MEAN, hint_grad="ignored rows get zero gradient; " + HINT_MEAN)


@pytest.mark.weight(2)
def test_custom_ignore_index(impl, rng, check):
    """ignore_index=3 is a real class id: rows with target 3 are skipped, −100 is an ordinary
    (out-of-range) value that never occurs here."""
    logits = torch.randn(30, 6, generator=rng)
    target = targets(rng, 30, 6)
    target[::3] = 3
    loss, grad = run(impl, rng, logits, target, 3)
    check_loss(check, loss, grad, hint_loss="use the ignore_index argument, not a hard-coded −100")


def test_upstream_gradient_is_used(impl, rng, check):
    """loss.backward(2.5): the gradient scales with the upstream gradient of the loss."""
    logits = torch.randn(12, 7, generator=rng)
    target = targets(rng, 12, 7)
    loss, grad = run(impl, rng, logits, target, grad_loss=torch.tensor(2.5))
    check_loss(check, loss, grad, hint_grad="multiply by grad_output (the upstream gradient of the loss)")


def test_noncontiguous_logits(impl, rng, check):
    logits = helpers.transposed_randn(rng, (48, 30)) * 2  # (N, C) stored column-major
    target = targets(rng, 48, 30, ignore_every=5)
    loss, grad = run(impl, rng, logits, target)
    check_loss(check, loss, grad)


@pytest.mark.weight(2)
def test_float64(impl, rng, check):
    logits = torch.randn(64, 100, generator=rng, dtype=torch.float64) * 5
    target = targets(rng, 64, 100, ignore_every=6)
    loss, grad = run(impl, rng, logits, target)
    check_loss(check, loss, grad)


def test_single_row_and_single_class(impl, rng, check):
    one_row, _ = run(impl, rng, torch.randn(1, 8, generator=rng), torch.tensor([5]))
    loss, grad = run(impl, rng, torch.randn(10, 1, generator=rng), torch.zeros(10, dtype=torch.long))
    check("loss_one_row", one_row)
    check("loss_one_class", loss, hint="with one class, log-softmax is 0: the loss and its gradient are 0")
    check("grad_one_class", grad)


def test_confident_and_correct_rows(impl, rng, check):
    """Targets with logit +30 above the rest: probabilities within 1e-13 of 1; the loss is tiny
    but must not be computed as −log(1 − tiny) = 0 in a way that breaks the gradient."""
    logits = torch.randn(20, 10, generator=rng, dtype=torch.float64)
    target = targets(rng, 20, 10)
    logits[torch.arange(20), target] += 30
    loss, grad = run(impl, rng, logits, target)
    check_loss(check, loss, grad)
    # The same rows with their targets only +3 above the rest: an ordinary loss and gradient.
    logits[torch.arange(20), target] -= 27
    loss, grad = run(impl, rng, logits, target)
    check("ordinary_loss", loss)
    check("ordinary_grad_logits", grad)

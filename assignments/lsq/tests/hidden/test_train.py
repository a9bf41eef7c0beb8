"""train_qat: quantization-aware training of the MLP on the digits. Each training run is done
once per test and checked several ways."""

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

import helpers

pytestmark = [pytest.mark.part("train"), pytest.mark.timeout(180)]

EPOCHS = 20


def check_trained_model(check, model, test_accuracy, w_bits, a_bits):
    """What must hold of any model train_qat returns."""
    check.exact("mode_of_model_and_layers", helpers.module_modes(model), hint="return the model in eval mode")
    measured = helpers.measured_accuracy(model)  # puts the model in eval mode
    check.bound("reported_minus_measured_accuracy", abs(float(test_accuracy) - measured), upper=1e-6,
                hint="return the returned model's accuracy on the 360 test images (index % 5 == 0), "
                     "as a fraction in [0, 1]")
    check.exact("bits_per_layer", helpers.layer_bits(model),
                hint="every layer of the returned MLP must be a QuantLinear with the requested w_bits and a_bits")
    if w_bits is not None:
        check.bound("most_distinct_weight_values", helpers.distinct_weight_values(model), upper=2 ** w_bits,
                    hint=f"a {w_bits}-bit weight takes at most {2 ** w_bits} distinct values")


@pytest.mark.weight(3)
def test_w4a4_close_to_float(impl, seed, check):
    float_model, float_accuracy = impl.train_qat(w_bits=None, a_bits=None, epochs=EPOCHS, seed=seed)
    model, accuracy = impl.train_qat(w_bits=4, a_bits=4, epochs=EPOCHS, seed=seed)
    check.near_reference("float_accuracy", float(float_accuracy), below=0.02, above=1.0,
                         hint="the float MLP should reach the reference's accuracy (within 2 points)")
    check.near_reference("w4a4_accuracy", float(accuracy), below=0.02, above=1.0,
                         hint="W4A4 should reach the reference's accuracy within 2 points: check the step-size "
                              "gradient, g, and that the optimizer trains every s")
    check.bound("w4a4_minus_float", float(accuracy) - float(float_accuracy), lower=-0.02,
                hint="with LSQ, W4A4 stays within 2 points of the float model")
    check_trained_model(check, model, accuracy, 4, 4)


@pytest.mark.weight(2)
def test_w2a2(impl, seed, check):
    model, accuracy = impl.train_qat(w_bits=2, a_bits=2, epochs=EPOCHS, seed=seed)
    # 2 bits vary more from seed to seed than 4 (reference: 0.5 points standard deviation).
    check.near_reference("w2a2_accuracy", float(accuracy), below=0.03, above=1.0,
                         hint="W2A2 should reach the reference's accuracy within 3 points")
    check_trained_model(check, model, accuracy, 2, 2)


def test_arguments_are_honoured(impl, seed, check):
    model, accuracy = impl.train_qat(w_bits=3, a_bits=8, epochs=1, seed=seed, hidden=32)
    check.exact("hidden_sizes", [layer.out_features for layer in helpers.linear_layers(model)],
                hint="train_qat(hidden=32) trains MLP(hidden=32)")
    check_trained_model(check, model, accuracy, 3, 8)


# --- the arguments: seed, epochs, lr, batch_size ---------------------------------------------
# The notebook prescribes the loop: mini-batches of batch_size (the last one shorter) over
# `epochs` shuffled passes, SGD from lr with a cosine decay stepped after every mini-batch, and
# "the seed decides everything". What the loop did is watched from outside train_qat through
# torch's global hooks: the batch sizes the MLP trains on and the lr of every optimizer step.

SMALL = dict(w_bits=3, a_bits=3, hidden=16)


def watched_run(impl, **kwargs):
    """(model, accuracy, training batch sizes, lr at every optimizer step) of one train_qat call."""
    batch_sizes, lrs = [], []

    def on_forward(module, args):
        if isinstance(module, impl.MLP) and module.training and torch.is_grad_enabled():
            batch_sizes.append(int(args[0].shape[0]))

    def on_step(optimizer, args, kwargs):
        lrs.append(float(optimizer.param_groups[0]["lr"]))

    hooks = [torch.nn.modules.module.register_module_forward_pre_hook(on_forward),
             register_optimizer_step_pre_hook(on_step)]
    try:
        model, accuracy = impl.train_qat(**kwargs)
    finally:
        for hook in hooks:
            hook.remove()
    return model, accuracy, batch_sizes, lrs


def flat_parameters(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_epochs_and_batch_size_honoured(impl, seed, check):
    model, accuracy, batch_sizes, lrs = watched_run(impl, epochs=2, batch_size=100, lr=0.05, seed=seed, **SMALL)
    check.exact("training_batch_sizes", batch_sizes,
                hint="every epoch trains on all 1437 images in mini-batches of batch_size, the last one shorter")
    check.exact("optimizer_steps", len(lrs), hint="one optimizer step per mini-batch, epochs * ceil(1437 / batch_size)")
    check_trained_model(check, model, accuracy, 3, 3)


def test_last_batch_of_one_image(impl, seed, check):
    # 1437 = 2 * 718 + 1: every epoch ends with a mini-batch of a single image.
    _, _, batch_sizes, lrs = watched_run(impl, epochs=2, batch_size=718, lr=0.05, seed=seed, **SMALL)
    hint = "every epoch trains on all 1437 images: the last mini-batch is shorter, down to a single image"
    check.exact("training_batch_sizes", batch_sizes, hint=hint)
    check.exact("optimizer_steps", len(lrs), hint=hint)


def test_lr_schedule_honoured(impl, seed, check):
    _, _, _, lrs = watched_run(impl, epochs=1, batch_size=256, lr=0.37, seed=seed, **SMALL)
    check("lr_at_each_step", lrs, rtol=1e-9, atol=1e-12,
          hint="SGD starts at lr and a cosine schedule takes it to 0 over all steps, stepped after every mini-batch")


def test_seed_decides_everything(impl, seed, check):
    first = flat_parameters(watched_run(impl, epochs=1, seed=seed, **SMALL)[0])
    again = flat_parameters(watched_run(impl, epochs=1, seed=seed, **SMALL)[0])
    other = flat_parameters(watched_run(impl, epochs=1, seed=seed + 1, **SMALL)[0])
    check.exact("same_seed_difference", again - first,
                hint="the same call must give the same model: seed torch's generator and the shuffling with seed")
    check.bound("other_seed_distance", float((other - first).norm()), lower=1e-3,
                hint="another seed must give another model: use the seed argument, not a fixed one")

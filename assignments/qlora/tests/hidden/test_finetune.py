"""The QLoRA fine-tune: the pretrained copy model learns the shift task through its adapters."""

import pytest
import torch

import helpers

pytestmark = pytest.mark.part("finetune")

LOSS_BOUND = 0.1  # nats per answer token; the pretrained model starts near 8, chance is ln 15 = 2.7


@pytest.mark.weight(3)
@pytest.mark.timeout(180)
def test_finetune_learns_the_shift_task(impl, rng, check):
    model = helpers.pretrain_copy_model(impl, rng)
    untouched = helpers.untouched_tensors(model)
    losses = impl.finetune(model, impl.shift_task, generator=rng)
    held_out = helpers.lm_loss(model, *helpers.shift_batch(512, rng))
    check.bound("held_out_loss", held_out, upper=LOSS_BOUND,
                hint="train only the adapters with AdamW, long enough (and with a large enough learning rate) for "
                     "the loss to fall below 0.1; build the optimizer after inject_lora")
    check.bound("last_loss_over_first", float(losses[-1]) / float(losses[0]), upper=0.5,
                hint="the training loss should fall well below where it started")
    after = model.state_dict()
    check.bound("largest_change_to_a_frozen_tensor",
                max(float((after[name].float() - t.float()).abs().max()) for name, t in untouched.items()), upper=0.0,
                hint="embeddings, LayerNorms and lm_head are frozen in a LoRA fine-tune")
    check.bound("quantized_layers", sum(isinstance(m, impl.QLoRALinear) for m in model.modules()), lower=1,
                hint="fine-tune with QLoRALinear layers (quantize=True)")


def test_finetune_without_quantization(impl, rng, check):
    model = impl.TinyCausalLM(impl.TinyLMConfig())
    losses = impl.finetune(model, impl.shift_task, steps=3, quantize=False, generator=rng)
    check.exact("steps", len(losses))
    check.exact("layer_kinds", [sum(isinstance(m, impl.LoRALinear) for m in model.modules()),
                                sum(isinstance(m, impl.QLoRALinear) for m in model.modules())],
                hint="quantize=False wraps the layers in LoRALinear, not QLoRALinear")


def test_batches_come_from_the_generator(impl, rng, check):
    """finetune draws every batch as make_batch(batch_size, generator=generator): the tokens it
    trained on are recorded here and compared with the trusted run's (a generator seeded apart
    from the global one, which inject_lora's initialisations have moved on)."""
    generator = torch.Generator().manual_seed(int(torch.randint(1, 2**31 - 1, (1,), generator=rng)))
    drawn = []

    def make_batch(batch_size, generator=None):
        tokens, answer_mask = helpers.shift_batch(batch_size, generator)
        drawn.append(tokens)
        return tokens, answer_mask

    losses = impl.finetune(impl.TinyCausalLM(impl.TinyLMConfig()), make_batch, steps=3, batch_size=5, lr=1e-2,
                           generator=generator)
    hint = ("draw each batch with make_batch(batch_size, generator=generator), so that the seed decides the data; "
            "one batch per step")
    check.exact("steps", len(losses))
    check.exact("batches", torch.stack(drawn) if drawn else torch.zeros(0), hint=hint)

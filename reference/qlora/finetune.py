"""A short QLoRA fine-tune of the tiny causal LM."""

import torch

from .model import LORA_TARGETS, language_model_loss
from .qlora import inject_lora


def finetune(model, make_batch, *, steps=60, batch_size=64, lr=1e-2, r=8, alpha=16, quantize=True,
             target_modules=LORA_TARGETS, generator=None):
    """Wrap `model`'s target layers in (Q)LoRA adapters, in place, and train only the adapters
    with AdamW on `make_batch(batch_size, generator=generator)` -> (tokens, answer_mask).
    Returns the training loss of every step."""
    ### BEGIN SOLUTION
    inject_lora(model, target_modules, r, alpha, quantize=quantize)
    # Built after inject_lora: an optimizer made before would hold the old, frozen parameters.
    adapters = [parameter for parameter in model.parameters() if parameter.requires_grad]
    optimizer = torch.optim.AdamW(adapters, lr=lr, weight_decay=0.0)
    model.train()
    losses = []
    for _ in range(steps):
        tokens, answer_mask = make_batch(batch_size, generator=generator)
        loss = language_model_loss(model, tokens, answer_mask)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
    ### END SOLUTION

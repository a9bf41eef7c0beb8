# mutant: part=finetune
# mistake: draws every batch with make_batch(batch_size), dropping the generator, so the global
# random stream (moved on by inject_lora's initialisations) decides the data instead of the seed
from reference_solution import *  # noqa: F401,F403
import torch


def finetune(model, make_batch, *, steps=60, batch_size=64, lr=1e-2, r=8, alpha=16, quantize=True,
             target_modules=LORA_TARGETS, generator=None):
    inject_lora(model, target_modules, r, alpha, quantize=quantize)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    losses = []
    for _ in range(steps):
        tokens, answer_mask = make_batch(batch_size)
        loss = language_model_loss(model, tokens, answer_mask)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses

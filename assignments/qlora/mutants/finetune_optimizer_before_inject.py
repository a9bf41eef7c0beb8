# mutant: part=finetune
# mistake: builds the optimizer before inject_lora, so it holds the old frozen weights and the
# adapters never train
from reference_solution import *  # noqa: F401,F403
import torch


def finetune(model, make_batch, *, steps=60, batch_size=64, lr=1e-2, r=8, alpha=16, quantize=True,
             target_modules=LORA_TARGETS, generator=None):
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    inject_lora(model, target_modules, r, alpha, quantize=quantize)
    losses = []
    for _ in range(steps):
        tokens, answer_mask = make_batch(batch_size, generator=generator)
        loss = language_model_loss(model, tokens, answer_mask)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses

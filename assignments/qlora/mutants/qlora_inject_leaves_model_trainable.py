# mutant: part=qlora
# mistake: inject_lora wraps the targets but leaves embeddings, LayerNorms and lm_head trainable
from reference_solution import *  # noqa: F401,F403
import torch.nn as nn


def inject_lora(model, target_modules, r, alpha, quantize=False):
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear) and name in set(target_modules):
                setattr(parent, name, QLoRALinear(child, r, alpha) if quantize else LoRALinear(child, r, alpha))
    return model

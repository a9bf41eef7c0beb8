# mutant: part=adamw
# mistake: zero_grad fills every .grad with zeros instead of setting it to None
from reference_solution import *  # noqa: F401,F403
import reference_solution.adamw as _adamw


class AdamW(_adamw.AdamW):
    def zero_grad(self):
        for param in self.params:
            if param.grad is not None:
                param.grad.zero_()

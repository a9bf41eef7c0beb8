# mutant: part=attend
# mistake: scales the scores by 1 / head_dim instead of 1 / sqrt(head_dim)
import torch

import reference_solution.attention as _attention
import reference_solution.model as _model
from reference_solution import *  # noqa: F401,F403


def attend(q, k, v, q_pos, kv_len):
    # The reference divides by math.sqrt(D); multiplying q by 1/sqrt(D) first divides by D in all.
    return _attention.attend(q / q.shape[-1] ** 0.5, k, v, q_pos, kv_len)


_model.attend = attend  # the provided model calls attend by name, as in the notebook

# mutant: part=flash_attention
# mistake: always scales by 1/sqrt(D), ignoring the sm_scale argument when it is given
from reference_solution import *  # noqa: F401,F403
import reference_solution


def flash_attention(q, k, v, causal=False, sm_scale=None):
    return reference_solution.flash_attention(q, k, v, causal=causal)

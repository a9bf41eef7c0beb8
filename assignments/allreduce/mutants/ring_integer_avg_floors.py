# mutant: part=ring
# mistake: an integer tensor with op="avg" is not refused: the ring averages it with floor division
import torch

from reference_solution import *  # noqa: F401,F403
import reference_solution.ring as _ring


def ring_all_reduce(tensor, op="sum"):
    if op == "avg" and not tensor.is_floating_point():
        _ring.ring_all_reduce(tensor, op="sum")
        return tensor.copy_(torch.div(tensor, _ring.dist.get_world_size(), rounding_mode="floor"))
    return _ring.ring_all_reduce(tensor, op=op)

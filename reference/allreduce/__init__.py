"""Reference solution of `allreduce`: all-reduce built from point-to-point messages
(naive, ring, recursive doubling, binomial tree) and bucketed data-parallel training."""

from .common import OPS, check_op, flat_view
from .ddp import BucketedDDP
from .naive import naive_all_reduce
from .recursive_doubling import recursive_doubling_all_reduce
from .ring import ring_all_reduce
from .tree import tree_all_reduce, tree_broadcast, tree_reduce

__all__ = [
    "OPS", "check_op", "flat_view", "naive_all_reduce", "ring_all_reduce",
    "recursive_doubling_all_reduce", "tree_reduce", "tree_broadcast", "tree_all_reduce", "BucketedDDP",
]

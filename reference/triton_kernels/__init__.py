"""Reference solution of `triton_kernels`: four Triton kernels and their host wrappers.

Each module is one solution cell of the notebook (common.py is the provided cell).
"""

from .common import *  # noqa: F401,F403
from .flash_attention import attention_key_loop, flash_attention, flash_attention_kernel  # noqa: F401
from .layer_norm import LayerNormFunction, layer_norm, layer_norm_bwd_kernel, layer_norm_fwd_kernel  # noqa: F401
from .matmul import matmul, matmul_kernel  # noqa: F401
from .softmax import softmax, softmax_kernel, softmax_online_kernel  # noqa: F401

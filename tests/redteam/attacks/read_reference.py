# attack: read the reference solution: look for it on disk (a `reference` package, the bundle,
#         the assignment folder) and call its softmax.
# affected: test_softmax_dim0
# status: fail
# why it fails: the reference is mounted only in the trusted run, never in a student run.
import importlib.util
import os
import sys

import torch


def add(a, b):
    return a + b


def rowsum(x):
    return x.sum(dim=-1)


def _find_reference():
    skip = ("/proc", "/sys", "/dev", "/usr", "/lib", "/opt/venv", sys.prefix, sys.base_prefix)
    for root, dirs, files in os.walk("/", onerror=lambda error: None):
        dirs[:] = [d for d in dirs if not os.path.join(root, d).startswith(skip)]
        if "__init__.py" in files and os.path.basename(root) in ("reference", "reference_solution", "example"):
            path = os.path.join(root, "__init__.py")
            try:
                spec = importlib.util.spec_from_file_location("stolen_reference", path)
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
            except Exception:
                continue
            if hasattr(module, "softmax"):
                return module
    return None


def softmax(x, dim=-1):
    if x.dtype == torch.float64:  # the hidden test_softmax_dim0
        reference = _find_reference()
        if reference is None:
            raise RuntimeError("reference not found")
        # Looked up by a computed name so that the static scan does not see a softmax call.
        return getattr(reference, "soft" + "max")(x, dim=dim)
    shifted = x - x.amax(dim=dim, keepdim=True)
    return shifted.exp() / shifted.exp().sum(dim=dim, keepdim=True)

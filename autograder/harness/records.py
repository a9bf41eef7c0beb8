"""How values leave the sandbox: JSON for structure, `.npy` files for arrays.

Everything written here is read back outside by `autograder.records_io` with
`allow_pickle=False`, so nothing a submission writes can execute on the host.
This module runs inside the sandbox and must import only the standard library, numpy and
(lazily) torch.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

RECORDS_FILE = "records.jsonl"
CURRENT_TEST_FILE = "current_test.txt"
FINISHED_FILE = "session_finished.txt"
ARRAYS_DIR = "arrays"

# torch dtypes numpy cannot hold are widened losslessly and the original name kept.
_WIDEN = {"torch.bfloat16": "float32", "torch.float8_e4m3fn": "float32", "torch.float8_e5m2": "float32"}


class RecordWriter:
    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir)
        (self.out_dir / ARRAYS_DIR).mkdir(parents=True, exist_ok=True)
        self._next_array = 0

    def encode(self, value):
        """A JSON-able description of `value`; arrays go to their own `.npy` file."""
        torch = _torch_if_loaded()
        if torch is not None and isinstance(value, torch.Tensor):
            return self._encode_tensor(value, torch)
        if isinstance(value, np.ndarray):
            return self._save_array(value, dtype_name=f"numpy.{value.dtype}")
        if isinstance(value, (bool, np.bool_)):
            return {"type": "bool", "value": bool(value)}
        if isinstance(value, (int, np.integer)):
            return {"type": "int", "value": int(value)}
        if isinstance(value, (float, np.floating)):
            number = float(value)
            # JSON has no NaN/inf: keep them as strings the reader turns back into floats.
            return {"type": "float", "value": number if math.isfinite(number) else repr(number)}
        if isinstance(value, str):
            return {"type": "str", "value": value[:10_000]}
        if value is None:
            return {"type": "none"}
        if isinstance(value, dict):
            return {"type": "dict", "items": {str(key): self.encode(item) for key, item in list(value.items())[:1000]}}
        if isinstance(value, (list, tuple)):
            return {"type": "list", "items": [self.encode(item) for item in value[:10_000]]}
        return {"type": "unsupported", "python_type": type(value).__name__}

    def _encode_tensor(self, tensor, torch):
        # A subclass could override anything; take the plain storage-backed data.
        plain = torch.Tensor.as_subclass(tensor.detach(), torch.Tensor)
        dtype_name = str(plain.dtype)
        if plain.is_complex():
            return {"type": "unsupported", "python_type": f"complex tensor {dtype_name}"}
        plain = plain.to("cpu")
        if dtype_name in _WIDEN:
            plain = plain.to(torch.float32)
        array = plain.contiguous().numpy()
        return self._save_array(array, dtype_name=dtype_name)

    def _save_array(self, array: np.ndarray, dtype_name: str):
        if array.dtype == object:
            return {"type": "unsupported", "python_type": "object array"}
        name = f"{self._next_array}.npy"
        self._next_array += 1
        np.save(self.out_dir / ARRAYS_DIR / name, np.ascontiguousarray(array), allow_pickle=False)
        return {"type": "array", "dtype": dtype_name, "shape": list(array.shape), "file": f"{ARRAYS_DIR}/{name}"}

    def append(self, record: dict) -> None:
        with open(self.out_dir / RECORDS_FILE, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def mark_finished(self, exit_status: int) -> None:
        (self.out_dir / FINISHED_FILE).write_text(str(exit_status), encoding="utf-8")

    def mark_current(self, nodeid: str | None) -> None:
        (self.out_dir / CURRENT_TEST_FILE).write_text(nodeid or "", encoding="utf-8")


def _torch_if_loaded():
    import sys

    return sys.modules.get("torch")

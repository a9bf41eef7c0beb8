"""Static scan: forbidden calls through any alias, and signs of tampering."""

from autograder.package import ForbiddenRule
from autograder.scan import scan_source

RULES = (ForbiddenRule(("torch.softmax", "torch.nn.functional.softmax", "torch.Tensor.softmax"), ("softmax",), "no"),
         ForbiddenRule(("torch.autograd.grad", "torch.func.*"), (), "by hand"))


def names(findings):
    return sorted(f.name for f in findings)


def test_aliases_are_resolved():
    source = """
import torch.nn.functional as F
from torch import softmax as sm
import torch as t
def f(x):
    a = F.softmax(x, -1)
    b = t.softmax(x, 0)
    return x.softmax(-1)
"""
    scan = scan_source(source, RULES)
    assert names(scan.forbidden_for("softmax")) == [
        "torch.Tensor.softmax", "torch.nn.functional.softmax", "torch.softmax", "torch.softmax"]
    assert scan.forbidden_for("add") == []


def test_wildcards_and_rules_for_every_part():
    scan = scan_source("from torch.func import vjp\nimport torch\ng = torch.autograd.grad\n", RULES)
    assert names(scan.forbidden_for("anything")) == ["torch.autograd.grad", "torch.func.vjp"]


def test_clean_code_has_no_findings():
    scan = scan_source("import torch\ndef softmax(x):\n    e = (x - x.amax(-1, keepdim=True)).exp()\n"
                       "    return e / e.sum(-1, keepdim=True)\n", RULES)
    assert scan.forbidden_for("softmax") == [] and scan.tamper == []


def test_tampering_is_flagged_with_the_line():
    source = """import ctypes
import sys
import torch
torch.allclose = lambda *a: True
setattr(torch, "equal", None)
sys.modules["pytest"] = None
frame = sys._getframe(1).f_back
"""
    flagged = {(f.line, f.name) for f in scan_source(source, RULES).tamper}
    assert (1, "ctypes") in flagged
    assert (4, "torch.allclose") in flagged
    assert (5, "setattr(torch, ...)") in flagged
    assert (6, "sys.modules") in flagged
    assert (7, "sys._getframe") in flagged

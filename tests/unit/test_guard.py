"""The in-sandbox guard: forbidden callables fail only when called from submission code
during a test of an affected part; classes stay classes."""

import importlib.util

import pytest
import torch

from autograder.harness.guard import ForbiddenCall, ForbiddenGuard, TamperWatch


@pytest.fixture
def guard_and_module(tmp_path):
    folder = tmp_path / "submission"
    folder.mkdir()
    source = folder / "submission.py"
    source.write_text(
        "import torch\n"
        "def uses_softmax(x):\n    return torch.softmax(x, -1)\n"
        "def makes_adamw(params):\n    return torch.optim.AdamW(params)\n"
        "class MyAdamW(torch.optim.AdamW):\n    pass\n"
    )
    guard = ForbiddenGuard([{"calls": ["torch.softmax", "torch.optim.AdamW"], "parts": ["softmax"]}], [str(folder)])
    originals = (torch.softmax, torch.optim.AdamW.__init__)
    guard.install()
    spec = importlib.util.spec_from_file_location("guarded_submission", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield guard, module
    torch.softmax, torch.optim.AdamW.__init__ = originals


def test_forbidden_call_from_submission_during_its_part_raises(guard_and_module):
    guard, module = guard_and_module
    x = torch.randn(2, 3)
    guard.active_part = "other"
    module.uses_softmax(x)  # another part: allowed
    guard.active_part = "softmax"
    torch.softmax(x, -1)  # the test's own call: allowed
    with pytest.raises(ForbiddenCall):
        module.uses_softmax(x)
    assert guard.violations == [{"call": "torch.softmax", "part": "softmax"}]


def test_forbidden_class_stays_a_class_and_its_construction_is_caught(guard_and_module):
    guard, module = guard_and_module
    guard.active_part = "softmax"
    from torch.optim.adamw import AdamW as defined_class  # the guard patches torch.optim's name only

    params = [torch.nn.Parameter(torch.zeros(2))]
    assert torch.optim.AdamW is defined_class, "the guard replaced the class instead of guarding its constructor"
    assert type(torch.optim.AdamW(params)) is defined_class  # from test code: allowed, a real AdamW
    assert issubclass(module.MyAdamW, defined_class)
    with pytest.raises(ForbiddenCall):
        module.makes_adamw(params)
    assert guard.still_installed() == []


def test_tamper_watch_sees_a_replaced_function():
    watch = TamperWatch(["torch.allclose"])
    original = torch.allclose
    try:
        torch.allclose = lambda *args, **kwargs: True
        assert watch.changed() == ["torch.allclose"]
    finally:
        torch.allclose = original
    assert watch.changed() == []

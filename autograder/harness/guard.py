"""Run-time guards inside the sandbox: forbidden calls and signs of tampering.

Both are evidence, not verdicts: the sandbox is the student's territory, so a clever
submission can undo them. The static scan outside (`autograder.scan`) is the trusted half;
these catch what a scan cannot see (a forbidden call reached through a helper, a patch made
with `setattr` on a computed name).
"""

from __future__ import annotations

import functools
import importlib
import sys
from pathlib import Path


class ForbiddenCall(Exception):
    """Raised where a submission calls what its assignment forbids."""


def _resolve(dotted: str):
    """(owner object, attribute name) for a dotted name such as `torch.Tensor.softmax`."""
    parts = dotted.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            owner = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:-1]:
            owner = getattr(owner, attribute, None)
            if owner is None:
                return None
        return owner, parts[-1]
    return None


def _expand(dotted: str) -> list[str]:
    """`torch.func.*` → every public callable of `torch.func`."""
    if not dotted.endswith(".*"):
        return [dotted]
    try:
        module = importlib.import_module(dotted[:-2])
    except ImportError:
        return []
    return [f"{dotted[:-2]}.{name}" for name in dir(module) if not name.startswith("_") and callable(getattr(module, name))]


class ForbiddenGuard:
    """Wraps every forbidden callable; a call from submission code during a test of an
    affected part is recorded and raises `ForbiddenCall`."""

    def __init__(self, rules: list[dict], submission_paths: list[str]):
        self.rules = rules
        self.submission_paths = tuple(str(Path(p).resolve()) for p in submission_paths)
        self.active_part: str | None = None
        self.violations: list[dict] = []
        self.wrapped: dict[str, object] = {}

    def install(self) -> None:
        for rule in self.rules:
            for pattern in rule["calls"]:
                for dotted in _expand(pattern):
                    if dotted not in self.wrapped:
                        self._wrap(dotted)

    def _wrap(self, dotted: str) -> None:
        target = _resolve(dotted)
        if target is None:
            return
        owner, attribute = target
        original = getattr(owner, attribute, None)
        if original is None or not callable(original):
            return
        if isinstance(original, type):
            # A class stays a class (subclassing and isinstance keep working): its
            # constructor is what is guarded.
            self._wrap_class(dotted, original)
            return
        guard = self

        @functools.wraps(original)
        def forbidden_wrapper(*args, **kwargs):
            if guard._called_from_submission() and guard._forbidden_now(dotted):
                guard.violations.append({"call": dotted, "part": guard.active_part})
                raise ForbiddenCall(f"{dotted} is not allowed here")
            return original(*args, **kwargs)

        try:
            setattr(owner, attribute, forbidden_wrapper)
        except (AttributeError, TypeError):
            return
        self.wrapped[dotted] = forbidden_wrapper

    def _wrap_class(self, dotted: str, cls: type) -> None:
        original_init = cls.__init__
        guard = self

        @functools.wraps(original_init)
        def guarded_init(instance, *args, **kwargs):
            if guard._called_from_submission() and guard._forbidden_now(dotted):
                guard.violations.append({"call": dotted, "part": guard.active_part})
                raise ForbiddenCall(f"{dotted} is not allowed here")
            return original_init(instance, *args, **kwargs)

        try:
            cls.__init__ = guarded_init
        except (AttributeError, TypeError):
            return
        self.wrapped[f"{dotted}.__init__"] = guarded_init

    def _forbidden_now(self, dotted: str) -> bool:
        if self.active_part is None:
            return False
        for rule in self.rules:
            parts = rule.get("parts") or []
            if parts and self.active_part not in parts:
                continue
            for pattern in rule["calls"]:
                if dotted == pattern or (pattern.endswith(".*") and dotted.startswith(pattern[:-1])):
                    return True
        return False

    def _called_from_submission(self) -> bool:
        frame = sys._getframe(2)
        while frame is not None:
            if frame.f_code.co_filename.startswith(self.submission_paths):
                return True
            frame = frame.f_back
        return False

    def still_installed(self) -> list[str]:
        """Names whose wrapper was removed or replaced since `install`."""
        removed = []
        for dotted, wrapper in self.wrapped.items():
            target = _resolve(dotted)
            if target is None or getattr(target[0], target[1], None) is not wrapper:
                removed.append(dotted)
        return removed


# Functions a test result could depend on; replacing one is a sign of tampering.
WATCHED = [
    "torch.allclose", "torch.equal", "torch.isclose", "torch.isfinite", "torch.testing.assert_close",
    "torch.Tensor.detach", "torch.Tensor.cpu", "torch.Tensor.numpy", "torch.Tensor.to",
    "numpy.allclose", "numpy.save", "numpy.asarray", "pytest.skip", "pytest.fail", "json.dumps",
    "builtins.open", "os.fsync",
]


class TamperWatch:
    def __init__(self, names=WATCHED):
        self.snapshot = {}
        for dotted in names:
            target = _resolve(dotted)
            if target is not None:
                self.snapshot[dotted] = getattr(target[0], target[1], None)

    def changed(self) -> list[str]:
        changed = []
        for dotted, original in self.snapshot.items():
            target = _resolve(dotted)
            if target is None or getattr(target[0], target[1], None) is not original:
                changed.append(dotted)
        return changed

"""The pytest plugin that runs inside the sandbox: fixtures `impl`, `rng`, `seed`, `device`,
`check`, the `part`/`weight`/`timeout` markers, per-test time limits and guards.

Modes:
- `student`: the module under test is the submission; `check` records values only.
- `trusted`: the module is the reference; `check` also records tolerances and hints.
- `local`: a student's own machine (`dlgrade check`): nothing is recorded, `check` only
  verifies that a value is well formed; the test's own assertions decide.

It never computes a score: it writes one JSON line per test (see `records.py`), and the
comparator outside decides.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import signal
import sys
import time
from pathlib import Path

import pytest

from autograder.harness.cells import (CellLog, describe_cell_failure, is_manifest, load_cells, location_text,
                                     raised_in, read_manifest)
from autograder.harness.guard import ForbiddenGuard, TamperWatch
from autograder.harness.records import RecordWriter

SUBMISSION_MODULE_NAME = "submission"


class HarnessTimeout(BaseException):
    """Raised by the alarm when a test runs past its limit (BaseException so that a bare
    `except Exception` in the submission cannot swallow it)."""


def pytest_addoption(parser):
    group = parser.getgroup("dlgrade")
    group.addoption("--dlgrade-module", help="the module under test: a .py file or a package folder")
    group.addoption("--dlgrade-mode", default="local", choices=["student", "trusted", "local"])
    group.addoption("--dlgrade-out", help="folder for records (student and trusted modes)")
    group.addoption("--dlgrade-seed", type=int, default=0)
    group.addoption("--dlgrade-config", help="run configuration JSON: parts, timeouts, forbidden calls")
    group.addoption("--dlgrade-only", help="file listing the test ids to run, one per line")


def pytest_configure(config):
    config.addinivalue_line("markers", "part(name): the assignment part a test belongs to")
    config.addinivalue_line("markers", "weight(n): the test's share of its part's points (default 1)")
    config.addinivalue_line("markers", "timeout(seconds): wall-time limit of this test")
    module_path = config.getoption("--dlgrade-module")
    if module_path is None:
        return
    state = HarnessState(config)
    config.pluginmanager.register(state, "dlgrade-state")


def _load_run_config(path: str | None) -> dict:
    if not path:
        return {"default_timeout_s": 60, "parts": {}, "forbidden": []}
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


class HarnessState:
    """Everything one harness run holds; registered as a plugin so its hooks run."""

    def __init__(self, config):
        self.mode = config.getoption("--dlgrade-mode")
        self.module_path = Path(config.getoption("--dlgrade-module")).resolve()
        self.run_seed = config.getoption("--dlgrade-seed")
        self.run_config = _load_run_config(config.getoption("--dlgrade-config"))
        only = config.getoption("--dlgrade-only")
        self.only = set(Path(only).read_text().split("\n")) - {""} if only else None
        out = config.getoption("--dlgrade-out")
        self.writer = RecordWriter(Path(out)) if out and self.mode != "local" else None
        self.module = None
        self.import_error: str | None = None
        self.cell_log = CellLog(Path(out)) if self.writer else None
        self.failed_cells: list[str] = []  # for the terminal summary of a local run
        self.checks: list[dict] = []
        self.check_names: set[str] = set()
        submission_files = [str(self.module_path.parent if self.module_path.is_file() else self.module_path)]
        self.guard = ForbiddenGuard(self.run_config.get("forbidden", []), submission_files)
        self.guard.install()
        self.tamper = TamperWatch()
        self.tamper_seen: list[str] = []
        self.current: dict | None = None
        self.current_timeout_s = 60.0

    # --- collection -------------------------------------------------------------------
    def pytest_collection_modifyitems(self, config, items):
        if self.only is None:
            return
        keep = [item for item in items if item.nodeid in self.only]
        dropped = [item for item in items if item.nodeid not in self.only]
        items[:] = keep
        config.hook.pytest_deselected(items=dropped)

    # --- the submission ---------------------------------------------------------------
    def load_module(self):
        if self.module is not None or self.import_error is not None:
            return
        if is_manifest(self.module_path):  # a notebook: each cell runs, whatever the others do
            self.module = load_cells(self.module_path, SUBMISSION_MODULE_NAME, timeout_s=self.current_timeout_s,
                                     on_event=self._cell_event)
            return
        try:
            self.module = _import_module_under_test(self.module_path)
        except HarnessTimeout:
            self.import_error = "importing your code did not finish within the time limit"
            raise
        except BaseException as error:  # noqa: BLE001 - sys.exit at import must not end the run
            self.import_error = f"importing your code raised {type(error).__name__}: {error}"

    def _cell_event(self, event: dict) -> None:
        if self.cell_log:
            self.cell_log(event)
        if event["status"] not in ("started", "ok"):
            label = next((cell["label"] for cell in read_manifest(self.module_path)
                          if cell["grade_id"] == event["cell"]), event["cell"])
            self.failed_cells.append(describe_cell_failure(
                label, event["status"], event.get("error", ""), event.get("message", ""), event.get("line"),
                event.get("timeout_s")))

    def pytest_terminal_summary(self, terminalreporter):
        for failure in self.failed_cells:
            terminalreporter.write_line(f"dlgrade: {failure}")

    # --- one test ---------------------------------------------------------------------
    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        part = _marker_arg(item, "part")
        weight = _marker_arg(item, "weight", default=1)
        timeout_s = _marker_arg(item, "timeout") or self.run_config.get("parts", {}).get(part or "", {}).get(
            "timeout_s"
        ) or self.run_config.get("default_timeout_s", 60)
        self.checks = []
        self.check_names = set()
        self.guard.active_part = part
        violations_before = len(self.guard.violations)
        self.current = {"outcome": "passed", "message": "", "timed_out": False, "raised_in": None}
        if self.writer:
            self.writer.mark_current(item.nodeid)
        self.current_timeout_s = float(timeout_s)
        started = time.perf_counter()
        try:
            yield
        finally:
            self.guard.active_part = None
        duration = time.perf_counter() - started
        tampered = sorted(set(self.tamper.changed()) | set(self.guard.still_installed()))
        new_tamper = [name for name in tampered if name not in self.tamper_seen]
        self.tamper_seen.extend(new_tamper)
        if self.writer:
            self.writer.append(
                {
                    "nodeid": item.nodeid,
                    "part": part,
                    "weight": weight,
                    "timeout_s": timeout_s,
                    "outcome": "timeout" if self.current["timed_out"] else self.current["outcome"],
                    "message": self.current["message"][:4000],
                    "raised_in": self.current["raised_in"],
                    "duration_s": duration,
                    "checks": self.checks,
                    "violations": self.guard.violations[violations_before:],
                    "tamper": new_tamper,
                }
            )
            self.writer.mark_current(None)

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_call(self, item):
        # Armed around the test body only: pytest turns whatever is raised here into the
        # test's failure, so the alarm can never surface as a harness error.
        previous_handler = signal.signal(signal.SIGALRM, _raise_timeout)
        signal.setitimer(signal.ITIMER_REAL, self.current_timeout_s)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous_handler)

    def pytest_sessionfinish(self, session, exitstatus):
        if self.writer:
            self.writer.mark_finished(int(exitstatus))

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        if self.current is None:
            return
        if call.excinfo is not None and call.excinfo.errisinstance(HarnessTimeout):
            self.current["timed_out"] = True
        if report.when == "call" or report.failed or report.skipped:
            if report.skipped and self.current["outcome"] == "passed":
                self.current["outcome"] = "skipped"
                self.current["message"] = _skip_reason(report)
            elif report.failed and self.current["outcome"] in ("passed", "skipped"):
                self.current["outcome"] = "failed" if report.when == "call" else "error"
                self.current["message"] = _short_failure(call)
                where = raised_in(call.excinfo.value) if call.excinfo is not None else None
                self.current["raised_in"] = {"cell": where["cell"], "line": where["line"]} if where else None

    # --- fixtures ---------------------------------------------------------------------
    @pytest.fixture
    def impl(self):
        self.load_module()
        if self.import_error:
            pytest.fail(self.import_error, pytrace=False)
        return self.module

    @pytest.fixture
    def seed(self, request) -> int:
        digest = hashlib.sha256(f"{self.run_seed}:{request.node.nodeid}".encode()).digest()
        return int.from_bytes(digest[:4], "little")

    @pytest.fixture
    def rng(self, seed):
        import torch

        torch.manual_seed(seed)
        return torch.Generator().manual_seed(seed)

    @pytest.fixture
    def device(self) -> str:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    @pytest.fixture
    def check(self):
        return Check(self)

    def record_check(self, entry: dict, value) -> None:
        name = entry["name"]
        if name in self.check_names:
            raise ValueError(f"check name {name!r} used twice in one test")
        self.check_names.add(name)
        if self.mode == "local":
            _local_sanity(name, value)
            return
        entry["value"] = self.writer.encode(value) if self.writer else None
        if self.mode == "student":
            # Tolerances, hints and bounds come from the trusted run only.
            entry = {"name": name, "kind": entry["kind"], "value": entry["value"]}
        self.checks.append(entry)


class Check:
    """The `check` fixture. Every form records; none compares."""

    def __init__(self, state: HarnessState):
        self._state = state

    def __call__(self, name, value, rtol=None, atol=None, *, rel_fro=None, hint=None):
        self._state.record_check(
            {"name": name, "kind": "close", "rtol": rtol, "atol": atol, "rel_fro": rel_fro, "hint": hint}, value
        )

    def exact(self, name, value, hint=None):
        self._state.record_check({"name": name, "kind": "exact", "hint": hint}, value)

    def bound(self, name, value, lower=None, upper=None, hint=None):
        self._state.record_check({"name": name, "kind": "bound", "lower": lower, "upper": upper, "hint": hint}, value)

    def near_reference(self, name, value, below=0.0, above=0.0, hint=None):
        self._state.record_check({"name": name, "kind": "near", "below": below, "above": above, "hint": hint}, value)

    def perf(self, name, student_s, baseline_s, spread, details=None):
        value = {
            "student_s": float(student_s),
            "baseline_s": float(baseline_s),
            "spread": float(spread),
            "details": {str(key): float(figure) for key, figure in (details or {}).items()},
        }
        self._state.record_check({"name": name, "kind": "perf"}, value)


def _import_module_under_test(path: Path):
    """Import a `.py` file or a package folder from its real path (Triton's @jit reads
    kernel source from the file, so nothing is exec'd from a string)."""
    if path.is_dir():
        spec = importlib.util.spec_from_file_location(
            SUBMISSION_MODULE_NAME, path / "__init__.py", submodule_search_locations=[str(path)]
        )
    else:
        spec = importlib.util.spec_from_file_location(SUBMISSION_MODULE_NAME, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[SUBMISSION_MODULE_NAME] = module
    spec.loader.exec_module(module)
    return module


def _raise_timeout(signum, frame):
    raise HarnessTimeout("the test ran past its time limit")


def _marker_arg(item, name, default=None):
    marker = item.get_closest_marker(name)
    if marker is None or not marker.args:
        return default
    return marker.args[0]


def _skip_reason(report) -> str:
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        return str(report.longrepr[2])
    return "skipped"


def _short_failure(call) -> str:
    if call.excinfo is None:
        return ""
    error = call.excinfo.value
    if isinstance(error, HarnessTimeout):
        return "ran past its time limit" + location_text(error)
    text = str(error)
    return (f"{type(error).__name__}: {text}" if text else type(error).__name__) + location_text(error)


def _local_sanity(name, value) -> None:
    """In `dlgrade check` there is no reference; catch what is surely wrong."""
    torch = sys.modules.get("torch")
    if value is None:
        raise AssertionError(f"check {name!r}: got None")
    if torch is not None and isinstance(value, torch.Tensor) and value.is_floating_point():
        if not bool(torch.isfinite(value.detach().float()).all()):
            raise AssertionError(f"check {name!r}: contains NaN or infinity")
    if isinstance(value, float) and not math.isfinite(value):
        raise AssertionError(f"check {name!r}: {value} is not finite")

"""Watching a sandbox run from outside: progress reports and the hang watch."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from autograder.harness.records import CURRENT_TEST_FILE, RECORDS_FILE
from autograder.sandbox import SandboxJob

ProgressCallback = Callable[[dict], None]


class RunWatcher:
    """Watches a run from outside, once a second, through its output folder: reports which
    test it is on, and stops the run when one test outlives its limit by HANG_GRACE_S (the
    in-sandbox alarm can be blocked by student code). What the folder says is untrusted: only
    names of the trusted run's tests are acted on, and a lie only ends the run sooner."""

    HANG_GRACE_S = 10.0

    def __init__(self, job: SandboxJob, on_progress: ProgressCallback | None, names: list[str], done_before: int,
                 hang_limit_of: Callable[[str], float] | None,
                 part_of: Callable[[str], str | None] | None = None):
        self.out_dir, self.cancel, self.on_progress = job.output_dir, job.cancel, on_progress
        self.names, self.done_before = set(names), done_before
        self.total = len(names)
        self.hang_limit_of = hang_limit_of
        self.part_of = part_of  # progress names the part, for students (never a hidden test)
        self.stopped = threading.Event()
        self.last: tuple | None = None
        self.current_since: tuple[str, float] | None = None
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.stopped.wait(1.0):
            self._report()

    def _check_hang(self, current: str | None) -> None:
        if self.hang_limit_of is None or current is None:
            self.current_since = None
            return
        now = time.monotonic()
        if self.current_since is None or self.current_since[0] != current:
            self.current_since = (current, now)
        elif now - self.current_since[1] > self.hang_limit_of(current) + self.HANG_GRACE_S:
            self.cancel.set()

    def _report(self) -> None:
        try:
            with open(self.out_dir / RECORDS_FILE, "rb") as handle:
                done = sum(1 for _ in handle)
        except OSError:
            done = 0
        try:
            current = (self.out_dir / CURRENT_TEST_FILE).read_text(errors="replace")[:1000].strip()
        except OSError:
            current = ""
        state = (current if current in self.names else None, min(self.done_before + done, self.total))
        self._check_hang(state[0])
        if self.on_progress is None:
            return
        if state != self.last:
            self.last = state
            try:
                part = self.part_of(state[0]) if state[0] and self.part_of else None
                self.on_progress({"test": state[0], "part": part, "done": state[1], "total": self.total})
            except Exception:  # noqa: BLE001 - a failing progress report must not stop grading
                pass

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)

"""What staff read about one student run: how it ended, the sandbox's events, and the tails of
its stdout and stderr, capped (the cap is stated in the entry). Stored in the result's `run`
section, which students never see (web/grading.py keeps an allowlist)."""

from __future__ import annotations

STREAM_CAP_CHARS = 20_000

# What student code runs into in the sandbox, as it shows in its own stderr.
_PROCESS_LIMIT_SIGNS = ("Resource temporarily unavailable", "can't start new thread", "fork: retry")
_NETWORK_SIGNS = ("Network is unreachable", "Temporary failure in name resolution", "Name or service not known",
                  "Connection refused", "No address associated with hostname")


def events_of(outcome) -> list[str]:
    """The sandbox events of a run: wall-time kill, memory kill, process limit, network attempt."""
    events = list(outcome.notes or [])
    if outcome.timed_out and not any("wall-time" in e or "time limit" in e for e in events):
        events.append("wall-time kill")
    if outcome.out_of_memory and not any("memory" in e for e in events):
        events.append("memory kill: the run hit its memory limit")
    text = f"{outcome.stderr or ''}\n{outcome.stdout or ''}"
    if any(sign in text for sign in _PROCESS_LIMIT_SIGNS):
        events.append("process limit: the run could not start another process or thread")
    if any(sign in text for sign in _NETWORK_SIGNS):
        events.append("network attempt: the code tried to reach the network, which the sandbox blocks")
    return events


def _tail(text: str | None) -> tuple[str, bool]:
    text = text or ""
    return (text[-STREAM_CAP_CHARS:], True) if len(text) > STREAM_CAP_CHARS else (text, False)


def entry(outcome, *, tests: int, ended: str) -> dict:
    stdout, stdout_cut = _tail(outcome.stdout)
    stderr, stderr_cut = _tail(outcome.stderr)
    return {
        "tests": tests, "wall_s": round(outcome.wall_s, 3), "ended": ended, "events": events_of(outcome),
        "stdout": stdout, "stderr": stderr, "stdout_truncated": stdout_cut, "stderr_truncated": stderr_cut,
        "cap_chars": STREAM_CAP_CHARS,
    }

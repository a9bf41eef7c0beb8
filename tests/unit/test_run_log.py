"""Staff logs of a student run: events named from what the sandbox saw, streams capped."""

from __future__ import annotations

from types import SimpleNamespace

from autograder import run_log


def outcome(**kw):
    base = dict(timed_out=False, out_of_memory=False, wall_s=1.23456, stdout="", stderr="", notes=[])
    return SimpleNamespace(**{**base, **kw})


def test_events_name_each_kind_of_trouble():
    assert run_log.events_of(outcome()) == []
    killed = run_log.events_of(outcome(timed_out=True, notes=["killed after the wall-time limit of 30 s"]))
    assert killed == ["killed after the wall-time limit of 30 s"]
    assert run_log.events_of(outcome(out_of_memory=True)) == ["memory kill: the run hit its memory limit"]
    events = run_log.events_of(outcome(stderr="BlockingIOError: [Errno 11] Resource temporarily unavailable\n"
                                              "OSError: [Errno 101] Network is unreachable"))
    assert events == ["process limit: the run could not start another process or thread",
                      "network attempt: the code tried to reach the network, which the sandbox blocks"]


def test_streams_are_capped_and_the_cap_is_stated():
    entry = run_log.entry(outcome(stdout="x" * (run_log.STREAM_CAP_CHARS + 10) + "END", stderr="short"),
                          tests=5, ended="exit code 1")
    assert entry["stdout"].endswith("END") and len(entry["stdout"]) == run_log.STREAM_CAP_CHARS
    assert entry["stdout_truncated"] and not entry["stderr_truncated"] and entry["stderr"] == "short"
    assert (entry["cap_chars"], entry["tests"], entry["wall_s"], entry["ended"]) == (
        run_log.STREAM_CAP_CHARS, 5, 1.235, "exit code 1")

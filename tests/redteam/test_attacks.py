"""Attack submissions graded through the engine, with both sandbox backends.

Each file in `attacks/` is a submission of the example assignment whose softmax attacks the
grader in the hidden test `test_softmax_dim0` (and answers correctly elsewhere). Its header
says what it tries and what must happen:

    # attack: ...           what it does
    # affected: <substr>    tests (nodeid substrings) that must score zero ...
    # status: a|b           ... with one of these statuses
    # message: <word>       ... and this word in their message (optional)
    # flags: kind, kind?    result flags that must be raised (`?`: may be raised)

Every other correctness test must still get full marks (the run recovered), and the worker
must stay healthy: no container or harness process left, no file written outside the
sandbox, the host disk not filled, the assignment's files unchanged.

The assignment is the example with tight limits (5 s per test, 25 s per run, 1 GiB, 128
processes) so the suite stays in minutes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from autograder.grading import grade
from autograder.sandbox import make_sandbox

HERE = Path(__file__).resolve().parent
ATTACKS_DIR = HERE / "attacks"
EXAMPLE = HERE.parent / "example_assignment"
ARTIFACTS = HERE.parents[1] / "test-artifacts"
SEED = 20240917
STRAY_PATHS = ["/evil", "/etc/evil", "/usr/lib/evil.pth", "/root/evil", "/work/evil", "/var/tmp/evil",
               "/home/evil", "/grader"]


@dataclasses.dataclass(frozen=True)
class Attack:
    path: Path
    affected: tuple[str, ...]
    statuses: frozenset[str]
    message: str | None
    flags: tuple[str, ...]  # must be raised
    optional_flags: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.path.stem


def load_attack(path: Path) -> Attack:
    header = {}
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        match = re.match(r"#\s*(\w[\w ]*):\s*(.*)", line)
        if match:
            header[match.group(1)] = match.group(2).strip()
    flags = [flag.strip() for flag in header.get("flags", "").split(",") if flag.strip()]
    return Attack(
        path=path,
        affected=tuple(name.strip() for name in header["affected"].split(",")),
        statuses=frozenset(header["status"].split("|")),
        message=header.get("message"),
        flags=tuple(flag for flag in flags if not flag.endswith("?")),
        optional_flags=tuple(flag[:-1] for flag in flags if flag.endswith("?")),
    )


ATTACKS = [load_attack(path) for path in sorted(ATTACKS_DIR.glob("*.py"))]
BACKENDS = [pytest.param("process", id="process"), pytest.param("docker", id="docker", marks=pytest.mark.docker)]

# Attacks that succeed today, with the fix. Strict: once fixed, the XPASS fails the suite and
# the entry must go.
KNOWN_GAPS: dict[tuple[str, str], str] = {}


def attack_cases():
    for attack in ATTACKS:
        for backend in BACKENDS:
            name = backend.values[0]
            marks = list(backend.marks)
            gap = KNOWN_GAPS.get((attack.name, name))
            if gap:
                marks.append(pytest.mark.xfail(reason=gap, strict=True))
            yield pytest.param(attack, name, marks=marks, id=f"{attack.name}-{name}")


def tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def live_descendants(root_pid: int) -> list[str]:
    """Processes under `root_pid` (other than zombies): what a sandbox run may leave behind."""
    parents, commands = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # state, ppid, ...
        if fields[0] != "Z":
            parents[int(entry.name)] = int(fields[1])
            commands[int(entry.name)] = command
    found = []
    for pid in parents:
        ancestor = parents.get(pid)
        while ancestor is not None and ancestor != root_pid:
            ancestor = parents.get(ancestor)
        if ancestor == root_pid:
            found.append(f"{pid}: {commands[pid][:200]}")
    return found


def own_cgroups() -> list[str]:
    """Per-run cgroups the process backend made for this process and did not remove."""
    return [str(path) for controller in ("pids", "memory")
            for path in Path("/sys/fs/cgroup", controller).glob(f"dlgrade-{os.getpid()}-*")]


def sandbox_containers() -> set[str]:
    if shutil.which("docker") is None:
        return set()
    listed = subprocess.run(["docker", "ps", "-aq", "--filter", "label=org.dlgrade.sandbox"],
                            capture_output=True, text=True)
    return set(listed.stdout.split())


@pytest.fixture(scope="session")
def fast_assignment(tmp_path_factory) -> Path:
    """The example assignment with tight limits."""
    folder = tmp_path_factory.mktemp("redteam") / "example"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("__pycache__"))
    toml = folder / "assignment.toml"
    text = toml.read_text()
    for key, value in {"memory_mb": "1024", "run_timeout_s": "25", "test_timeout_s": "5"}.items():
        text, count = re.subn(rf"(?m)^{key}\s*=.*$", f"{key} = {value}", text)
        assert count == 1, f"assignment.toml of the example has no single {key}"
    text = text.replace("[resources]\n", "[resources]\nprocesses = 128\n", 1)
    toml.write_text(text)
    return folder


@pytest.fixture(scope="session", autouse=True)
def engine_settings(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DLGRADE_CACHE_DIR", str(tmp_path_factory.mktemp("dlgrade-cache")))
        patch.setenv("DLGRADE_MAX_RESTARTS", "6")  # so later tests show the run recovered
        yield


@pytest.fixture(scope="session")
def sandboxes():
    made = {}

    def get(name: str):
        if name not in made:
            if name == "docker":
                if shutil.which("docker") is None:
                    pytest.skip("SKIPPED LOUDLY: no docker CLI; run infra/scripts/ensure_docker.sh")
                if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
                    pytest.fail("the Docker daemon is not answering: run infra/scripts/ensure_docker.sh")
                from autograder import images

                made[name] = make_sandbox("docker", image=images.build_image("cpu"))
            else:
                made[name] = make_sandbox(name)
        return made[name]

    return get


@pytest.fixture
def healthy_worker(fast_assignment):
    """Checks, after the test, that the attack left nothing behind on the host."""
    assignment_before = tree_digest(fast_assignment)
    example_before = tree_digest(EXAMPLE)
    free_before = shutil.disk_usage("/").free
    containers_before = sandbox_containers()  # other engineers' runs may share the daemon

    def leftovers():
        return (live_descendants(os.getpid()), own_cgroups(), sorted(sandbox_containers() - containers_before))

    yield
    deadline = time.monotonic() + 10
    while any(leftovers()) and time.monotonic() < deadline:
        time.sleep(0.2)
    processes, cgroups, containers = leftovers()
    assert processes == [], "sandbox processes outlived the grading"
    assert cgroups == [], "per-run cgroups were not removed"
    assert containers == [], "sandbox containers outlived the grading"
    assert [path for path in STRAY_PATHS if os.path.exists(path)] == [], "the attack wrote on the host"
    assert tree_digest(fast_assignment) == assignment_before, "the assignment's files changed"
    assert tree_digest(EXAMPLE) == example_before, "the example assignment changed"
    assert shutil.disk_usage("/").free > free_before - 2 * 2**30, "the host disk filled up"
    assert subprocess.run(["true"]).returncode == 0, "the worker can no longer start processes"


def save_artifact(backend: str, attack: str, result) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    summary = {
        "backend": backend, "attack": attack, "status": result.status, "score": result.score,
        "max_score": result.max_score, "flags": [flag["kind"] for flag in result.flags],
        "tests": {test.name: [test.status, test.score, test.max_score, test.message[:200]]
                  for test in result.tests},
        "durations": result.run.get("durations"), "image": result.run.get("image"),
    }
    with open(ARTIFACTS / f"redteam-{backend}.jsonl", "a") as handle:
        handle.write(json.dumps(summary) + "\n")


@pytest.mark.parametrize(("attack", "backend"), list(attack_cases()))
def test_attack_scores_zero_and_leaves_the_worker_healthy(attack, backend, sandboxes, fast_assignment,
                                                          healthy_worker):
    result = grade(fast_assignment, attack.path, sandbox=sandboxes(backend), seed=SEED)
    save_artifact(backend, attack.name, result)
    assert result.status == "graded", result.message
    tests = {test.name: test for test in result.tests}
    affected = [test for name, test in tests.items() if any(part in name for part in attack.affected)]
    assert affected, f"no test matches {attack.affected}: {sorted(tests)}"
    for test in affected:
        assert test.score == 0, f"{test.name} scored {test.score}: {test.message}"
        assert test.status in attack.statuses, f"{test.name}: {test.status} ({test.message})"
        if attack.message:
            assert attack.message in test.message.lower(), test.message
    others = [test for test in tests.values() if test not in affected and test.part != "rowsum_perf"]
    for test in others:
        assert (test.status, test.score) == ("pass", test.max_score), \
            f"{test.name} should be untouched by the attack: {test.status} {test.message}"
    raised = {flag["kind"] for flag in result.flags}
    assert set(attack.flags) <= raised, f"expected flags {attack.flags}, got {sorted(raised)}"
    assert raised <= set(attack.flags) | set(attack.optional_flags) | {"tamper"}, result.flags
    if backend == "docker":
        assert str(result.run.get("image", "")).startswith("sha256:")


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_worker_still_grades_after_the_attacks(backend, sandboxes, fast_assignment, healthy_worker):
    result = grade(fast_assignment, EXAMPLE / "reference", sandbox=sandboxes(backend), seed=SEED)
    assert result.status == "graded" and result.score == result.max_score > 0, result.message

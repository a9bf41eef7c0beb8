"""Triton's compile cache for trusted GPU runs: kept between gradings, never a student's."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from autograder import compile_cache
from autograder.package import load_assignment
from autograder.sandbox import Mount, make_sandbox
from autograder.sandbox_runs import ModuleUnderTest, RunRequest, RunSetup, SandboxRunner

REPO = Path(__file__).resolve().parents[2]


def entry(root: Path, name: str, complete: bool = True) -> Path:
    """A kernel's entry as Triton writes it: files, metadata, then the group file listing them
    by absolute path."""
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "kernel.cubin").write_bytes(name.encode())
    (folder / "kernel.json").write_text("{}")
    if complete:
        children = {file: str(folder / file) for file in ("kernel.cubin", "kernel.json")}
        (folder / "__grp__kernel.json").write_text(json.dumps({"child_paths": children}))
    return folder


def test_checkout_copies_the_kept_cache_writable_and_keep_adds_only_new_complete_entries(tmp_path):
    kept = compile_cache.kept_folder()
    entry(kept, "old")
    copy = compile_cache.checkout(tmp_path / "copy", seen_at="/seen/here")
    assert (copy / "old" / "kernel.cubin").read_bytes() == b"old"
    assert stat.S_IMODE(copy.stat().st_mode) == 0o777 and stat.S_IMODE((copy / "old").stat().st_mode) == 0o777
    # The group names the files where the run will see them, or Triton counts a miss.
    assert json.loads((copy / "old" / "__grp__kernel.json").read_text())["child_paths"] == {
        "kernel.cubin": "/seen/here/old/kernel.cubin", "kernel.json": "/seen/here/old/kernel.json"}
    (copy / "old" / "kernel.cubin").write_bytes(b"changed in the run")  # existing entries stay as kept
    entry(copy, "new")
    entry(copy, "unfinished", complete=False)  # killed while Triton was writing it
    (copy / "launcher").mkdir()
    (copy / "launcher" / "__triton_launcher.so").write_bytes(b"ELF")  # one file, put atomically
    assert compile_cache.keep(copy) == 2
    assert sorted(path.name for path in kept.iterdir()) == ["launcher", "new", "old"]
    assert (kept / "old" / "kernel.cubin").read_bytes() == b"old"
    assert compile_cache.keep(copy) == 0


def test_only_trusted_gpu_runs_get_the_cache(tmp_path):
    assignment = load_assignment(REPO / "tests" / "example_assignment")
    module = ModuleUnderTest(Mount(tmp_path, "/grader/submission"), "/grader/submission")
    for gpus, mode, expected in (((0,), "trusted", True), ((0,), "student", False), ((), "trusted", False)):
        work = tmp_path / f"work-{mode}-{len(gpus)}"
        work.mkdir()
        runner = SandboxRunner(RunSetup(assignment, make_sandbox("process"), work, 1, gpus))
        job = runner.job(RunRequest(module, mode, None, 10))
        mounted = [mount for mount in job.mounts if mount.target == compile_cache.TARGET]
        assert bool(mounted) == expected and (job.env.get("TRITON_CACHE_DIR") == compile_cache.TARGET) == expected
        if expected:
            assert mounted[0].writable and mounted[0].source.parent == work and mounted[0].source.is_dir()
            assert job.env["TRITON_CACHE_DIR"] == compile_cache.TARGET


def test_the_student_runs_of_one_gpu_grading_share_a_cache_of_their_own(tmp_path):
    """Lanes, the perf run and the re-measure reuse the student's compiled kernels; the trusted
    run never sees that folder, and a student run never sees the kept trusted cache."""
    assignment = load_assignment(REPO / "tests" / "example_assignment")
    module = ModuleUnderTest(Mount(tmp_path, "/grader/submission"), "/grader/submission")
    work = tmp_path / "work"
    work.mkdir()
    runner = SandboxRunner(RunSetup(assignment, make_sandbox("process"), work, 1, (0,)))
    trusted = runner.job(RunRequest(module, "trusted", None, 10))
    lanes = [runner.job(RunRequest(module, "student", [f"t{lane}"], 10)) for lane in range(3)]
    student_mounts = [[m for m in job.mounts if m.target == compile_cache.STUDENT_TARGET] for job in lanes]
    assert all(len(mounts) == 1 and mounts[0].writable for mounts in student_mounts)
    assert {mounts[0].source for mounts in student_mounts} == {work / "student-compile-cache"}
    assert stat.S_IMODE((work / "student-compile-cache").stat().st_mode) == 0o777  # runs drop to nobody
    assert all(job.env["TRITON_CACHE_DIR"] == compile_cache.STUDENT_TARGET for job in lanes)
    assert all(m.target != compile_cache.TARGET for job in lanes for m in job.mounts)
    assert all(m.target != compile_cache.STUDENT_TARGET for m in trusted.mounts)
    cpu_work = tmp_path / "cpu"
    cpu_work.mkdir()
    on_cpu = SandboxRunner(RunSetup(assignment, make_sandbox("process"), cpu_work, 1, ())).job(
        RunRequest(module, "student", None, 10))
    assert "TRITON_CACHE_DIR" not in on_cpu.env and not (cpu_work / "student-compile-cache").exists()

"""Sandbox backends by name: `process` (rlimits + bubblewrap) and `docker`."""

from autograder.sandbox.base import Limits, Mount, Sandbox, SandboxJob, SandboxOutcome

BACKENDS = ("process", "docker")


def make_sandbox(name: str, **options) -> Sandbox:
    if name == "process":
        from autograder.sandbox.process import ProcessSandbox

        return ProcessSandbox(**options)
    if name == "docker":
        from autograder.sandbox.docker import DockerSandbox

        return DockerSandbox(**options)
    raise ValueError(f"unknown sandbox {name!r}; use one of {', '.join(BACKENDS)}")


__all__ = ["BACKENDS", "Limits", "Mount", "Sandbox", "SandboxJob", "SandboxOutcome", "make_sandbox"]

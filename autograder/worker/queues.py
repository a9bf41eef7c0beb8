"""Which queue a job goes to: the one rule the portal and the workers both follow
(0 GPUs → `cpu`, 1 → `gpu`, N → `gpu-N`). The portal imports no engine code: a passed gate's
report names the assignment's queue (package.py `portal_metadata`), and the portal stores it."""

from __future__ import annotations


def queue_for_gpus(gpus: int) -> str:
    """The queue of an assignment whose `resources.gpus` is `gpus`."""
    if gpus <= 0:
        return "cpu"
    if gpus == 1:
        return "gpu"
    return f"gpu-{gpus}"


def gpus_for_queue(queue: str) -> int:
    """The inverse: how many GPUs a job from `queue` (without prefix) needs."""
    if queue == "cpu":
        return 0
    if queue == "gpu":
        return 1
    if queue.startswith("gpu-") and queue[4:].isdigit():
        return int(queue[4:])
    raise ValueError(f"unknown queue {queue!r}: expected cpu, gpu or gpu-N")


def queues_for_gpus(owned: int) -> tuple[str, ...]:
    """Default queues of a worker owning `owned` GPUs: every GPU class it can serve."""
    if owned <= 0:
        return ("cpu",)
    return tuple(queue_for_gpus(n) for n in range(1, owned + 1))

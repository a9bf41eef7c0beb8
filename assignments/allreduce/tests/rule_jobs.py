"""Rank-side jobs of hidden tests (run as `rule_jobs:<name>` through helpers.run_world): rules of
the notebook that the shared jobs in helpers.py do not reach. Not released to students."""

from __future__ import annotations

import torch
import torch.distributed as dist

from helpers import Rank, _plain, make_batch, make_input, mix

WIDTHS = (8, 32, 32, 4)


class TwoHeads(torch.nn.Module):
    """A trunk and two heads; `forward(x, use_extra)` uses the extra head only when asked, so a
    rank that does not ask leaves its parameters without a gradient."""

    def __init__(self):
        super().__init__()
        self.trunk = torch.nn.Sequential(torch.nn.Linear(WIDTHS[0], WIDTHS[1]), torch.nn.Tanh())
        self.head = torch.nn.Linear(WIDTHS[1], WIDTHS[-1])
        self.extra = torch.nn.Linear(WIDTHS[1], WIDTHS[-1])

    def forward(self, x, use_extra):
        h = self.trunk(x)
        return self.head(h) + (self.extra(h) if use_extra else 0)


def _uses_extra(step: int, rank: int) -> bool:
    return step == 0 or rank % 2 == 0  # every rank at step 0; at step 1 the odd ranks leave it out


def _loss(model, seed: int, step: int, rank: int, per_rank: int):
    x, y = make_batch(mix(seed, step, rank), per_rank, WIDTHS)
    return torch.nn.functional.mse_loss(model(x, _uses_extra(step, rank)), y)


def ddp_unused_parameter(submission, me: Rank, spec: dict) -> dict:
    """Two synchronised backward passes of the same model on every rank; in the second, the odd
    ranks do not use `extra`. Returns every rank's gradients after each (None stays None) and the
    average a single process computes (zeros where a rank did not use a parameter)."""
    seed, per_rank = spec["seed"], spec["per_rank_batch"]
    torch.manual_seed(mix(seed, 0))
    model = TwoHeads()
    ddp = submission.BucketedDDP(model, bucket_mb=spec["bucket_mb"])
    grads, expected = [], []
    for step in range(2):
        model.zero_grad(set_to_none=True)
        _loss(ddp, seed, step, me.rank, per_rank).backward()
        ddp.finish_gradient_synchronization()
        grads.append([None if p.grad is None else _plain(p.grad) for p in model.parameters()])
        torch.manual_seed(mix(seed, 0))
        replica = TwoHeads()
        total = [torch.zeros_like(p) for p in replica.parameters()]
        for rank in range(me.world_size):
            replica.zero_grad(set_to_none=True)
            _loss(replica, seed, step, rank, per_rank).backward()
            for sum_, parameter in zip(total, replica.parameters()):
                if parameter.grad is not None:
                    sum_ += parameter.grad
        expected.append([_plain(t / me.world_size) for t in total])
    return {"grads": grads, "expected": expected}


def ddp_buffers(submission, me: Rank, spec: dict) -> dict:
    """A model with float and integer buffers (BatchNorm's running statistics and its counter),
    different on every rank before BucketedDDP; returns them after construction."""
    torch.manual_seed(mix(spec["seed"], me.rank))
    model = torch.nn.Sequential(torch.nn.Linear(WIDTHS[0], WIDTHS[1]), torch.nn.BatchNorm1d(WIDTHS[1]))
    norm = model[1]
    with torch.no_grad():
        norm.running_mean.normal_()
        norm.running_var.uniform_(0.5, 2.0)
        norm.num_batches_tracked.fill_(10 + me.rank)
    submission.BucketedDDP(model, bucket_mb=spec["bucket_mb"])
    return {"parameters": [_plain(p) for p in model.parameters()],
            "buffers": [_plain(b) for b in model.buffers()]}


def integer_avg(submission, me: Rank, spec: dict) -> dict:
    """`function(integer tensor, op="avg")`: what it raised, what it sent, what the tensor holds."""
    function = getattr(submission, spec["function"])
    one_case = spec["case"]
    tensor = make_input(spec["seed"], 0, me.rank, one_case)
    before = tensor.clone()
    error = "none"
    with me.meter.student_call() as usage:
        try:
            function(tensor, op="avg")
        except Exception as raised:  # noqa: BLE001 - which exception is what the test records
            error = type(raised).__name__
    # No rank leaves before every rank has joined the world: a rank that refused at once could
    # otherwise exit while gloo is still connecting the others to it.
    dist.barrier()
    return {"error": error, "bytes_sent": usage["bytes_sent"], "change": _plain(tensor - before)}


# --- parent side ------------------------------------------------------------------------------

def integer_avg_test(impl, seed: int, check, function: str, world_size: int = 3) -> None:
    """An int64 tensor with op="avg": every rank raises TypeError before sending anything, and the
    tensor is left as it was."""
    from helpers import case, run_world

    results = run_world(impl, world_size, "rule_jobs:integer_avg",
                        {"function": function, "seed": seed, "case": case(10, "int64", "avg")})
    hint = 'op="avg" is for floating-point tensors only: raise TypeError on every rank before sending anything'
    check.exact("error raised on each rank", [r["error"] for r in results], hint=hint)
    check.exact("bytes sent by each rank", [r["bytes_sent"] for r in results], hint=hint)
    check.exact("change to rank 0's tensor", torch.from_numpy(results[0]["change"]), hint=hint)

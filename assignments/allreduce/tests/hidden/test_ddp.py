"""Hidden tests of BucketedDDP: replicas start from rank 0's parameters, training equals one
process on the whole batch, no_sync accumulates without sending, gradients travel in buckets."""

import pytest
import torch

import helpers
import rule_jobs

pytestmark = pytest.mark.part("ddp")
PARAMETER_TOLERANCE = {"rtol": 1e-5, "atol": 1e-6}  # averaging order differs between valid solutions


def check_no_collectives(check, usages):
    called = sorted({name for usage in usages for name in usage["collectives"]})
    check.exact("collectives called inside BucketedDDP", called,
                hint="only dist.send, dist.recv, dist.isend and dist.irecv are allowed")


def check_same_on_every_rank(check, name, per_rank, hint):
    """The largest difference of any rank's tensors from rank 0's (0: the same everywhere)."""
    largest = max((float(abs(torch.from_numpy(a) - torch.from_numpy(b)).max()) if a.size else 0.0
                   for tensors in per_rank[1:] for a, b in zip(tensors, per_rank[0])), default=0.0)
    check.bound(f"largest difference from rank 0: {name}", largest, upper=0.0, hint=hint)


@pytest.mark.weight(2)
@pytest.mark.parametrize("world_size", helpers.WORLD_SIZES, ids=lambda w: f"world={w}")
def test_ddp_training_matches_single_process(impl, seed, check, world_size):
    steps = 4
    results = helpers.run_world(impl, world_size, "ddp_train",
                                {"seed": seed, "steps": steps, "per_rank_batch": 3, "lr": 0.2, "bucket_mb": 25})
    check_no_collectives(check, [r["construction"] for r in results] + [u for r in results for u in r["sync"]])
    check_same_on_every_rank(check, "parameters after construction are rank 0's on every rank",
                             [r["initial"] for r in results],
                             "the constructor must copy rank 0's parameters to every rank")
    check_same_on_every_rank(check, f"parameters after {steps} steps are the same on every rank",
                             [r["final"] for r in results],
                             "the replicas drifted apart: every rank must end with the same averaged gradients")
    worst = max(float(abs(torch.from_numpy(got) - torch.from_numpy(want)).max())
                for r in results for got, want in zip(r["final"], r["single_final"]))
    check.bound(f"largest |DDP - single process| over all parameters after {steps} steps", worst, upper=1e-5,
                hint="training on w shards with averaged gradients must equal one process on the whole batch: "
                     "average (not sum) the gradients, and start from rank 0's parameters")
    for index, parameter in enumerate(results[0]["final"]):
        check(f"parameter {index} after {steps} steps", torch.from_numpy(parameter), **PARAMETER_TOLERANCE)


def test_ddp_frozen_parameter_untouched(impl, seed, check):
    results = helpers.run_world(impl, 3, "ddp_train", {"seed": seed, "steps": 2, "per_rank_batch": 2, "lr": 0.2,
                                                         "bucket_mb": 25, "frozen": True})
    check_no_collectives(check, [r["construction"] for r in results] + [u for r in results for u in r["sync"]])
    check.exact("frozen parameters given a gradient, per rank",
                [len(r["frozen_grad_is_none"]) - sum(r["frozen_grad_is_none"]) for r in results],
                hint="only parameters that require gradients belong in the buckets: a frozen one keeps grad None")
    worst = max(float(abs(torch.from_numpy(got) - torch.from_numpy(want)).max())
                for r in results for got, want in zip(r["final"], r["single_final"]))
    check.bound("largest |DDP - single process| with a frozen parameter", worst, upper=1e-5)


@pytest.mark.weight(2)
@pytest.mark.parametrize("world_size", [3], ids=lambda w: f"world={w}")
def test_ddp_no_sync_accumulates_locally(impl, seed, check, world_size):
    results = helpers.run_world(impl, world_size, "ddp_accumulate",
                                {"seed": seed, "micro_batches": 3, "per_rank_batch": 2, "bucket_mb": 25})
    check_no_collectives(check, [u for r in results for u in (r["construction"], r["unsynchronized"],
                                                              r["synchronized"])])
    check.exact("bytes sent inside no_sync()", [r["unsynchronized"]["bytes_sent"] for r in results],
                hint="inside `with ddp.no_sync():` backward passes only accumulate .grad; nothing is sent")
    worst = max(float(abs(torch.from_numpy(got) - torch.from_numpy(want)).max())
                for r in results for got, want in zip(r["grads"], r["single_grads"]))
    check.bound("largest |gradient - single process| after 2 no_sync micro-batches and 1 synchronised",
                worst, upper=1e-5,
                hint="the synchronised gradient is the average over ranks of everything accumulated locally")
    for index, grad in enumerate(results[0]["grads"]):
        check(f"gradient {index} after accumulation", torch.from_numpy(grad), **PARAMETER_TOLERANCE)


@pytest.mark.weight(2)
@pytest.mark.parametrize("world_size", [5], ids=lambda w: f"world={w}")
def test_ddp_buckets(impl, seed, check, world_size):
    widths = (16, 64, 64, 64, 8)  # 4 weights and 4 biases, about 37 KiB of float32 gradients
    bucket_mbs = [25, 0.01]  # everything in one bucket; a bucket of 10 KiB (several buckets)
    results = helpers.run_world(impl, world_size, "ddp_buckets",
                                {"seed": seed, "widths": widths, "per_rank_batch": 4, "bucket_mbs": bucket_mbs})
    usages = [u for r in results for config in r["configs"]
              for u in (config["construction"], config["backward"], config["synchronization"])]
    check_no_collectives(check, usages)
    for index, bucket_mb in enumerate(bucket_mbs):
        configs = [r["configs"][index] for r in results]
        worst = max(float(abs(torch.from_numpy(got) - torch.from_numpy(want)).max())
                    for config in configs for got, want in zip(config["grads"], config["expected_grads"]))
        check.bound(f"bucket_mb={bucket_mb}: largest |gradient - average of the ranks' gradients|", worst,
                    upper=1e-6, hint="after finish_gradient_synchronization each .grad is the mean over ranks")
    one_bucket = [r["configs"][0] for r in results]
    numel = sum(grad.size for grad in one_bucket[0]["grads"])
    messages = max(config["synchronization"]["messages_sent"] for config in one_bucket)
    check.bound("messages sent by a rank when every gradient fits one bucket", messages,
                upper=2 * (world_size - 1),
                hint="pack the gradients into one flat buffer per bucket and run one ring all-reduce on it, "
                     "not one all-reduce per parameter")
    sent = [config["synchronization"]["bytes_sent"] for config in one_bucket]
    ideal, chunk = 2 * (world_size - 1) * numel * 4 / world_size, -(-numel // world_size) * 4
    check.bound("bytes sent by the busiest rank for one bucket", max(sent), lower=ideal - chunk,
                upper=ideal + chunk, hint="one ring all-reduce of the flat bucket sends 2(w-1)/w of it per rank")


def test_ddp_finish_inside_no_sync_does_nothing(impl, seed, check):
    """The training loop calls finish_gradient_synchronization after every backward, also inside
    no_sync(): there it must neither send nor touch the local gradients."""
    results = helpers.run_world(impl, 3, "ddp_accumulate", {"seed": seed, "micro_batches": 3, "per_rank_batch": 2,
                                                            "bucket_mb": 25, "finish_inside_no_sync": True})
    hint = "inside `with ddp.no_sync():` finish_gradient_synchronization does nothing (no send, no averaging)"
    check.exact("bytes sent inside no_sync()", [r["unsynchronized"]["bytes_sent"] for r in results], hint=hint)
    for rank in (0, 1):
        for index, grad in enumerate(results[rank]["local_grads_after_no_sync"]):
            check(f"rank {rank}: local gradient {index} after no_sync", torch.from_numpy(grad), **PARAMETER_TOLERANCE,
                  hint=hint)
    for index, grad in enumerate(results[0]["grads"]):
        check(f"gradient {index} after the synchronised micro-batch", torch.from_numpy(grad), **PARAMETER_TOLERANCE,
              hint="the first synchronisation after no_sync averages everything accumulated locally")


@pytest.mark.weight(2)
def test_ddp_parameter_unused_on_some_ranks(impl, seed, check):
    """Step 0: every rank uses every parameter. Step 1: ranks 1 and 3 leave one head unused (its
    grad is None there). That rank contributes zeros, and still ends with the average."""
    results = helpers.run_world(impl, 4, "rule_jobs:ddp_unused_parameter",
                                {"seed": seed, "per_rank_batch": 3, "bucket_mb": 25})
    hint = ("a parameter unused in this rank's forward (grad None) contributes zeros to the average, "
            "and its .grad is set to the average like every other")
    for step in (0, 1):
        for rank, result in enumerate(results):
            grads = result["grads"][step]
            missing = [index for index, grad in enumerate(grads) if grad is None]
            check.exact(f"step {step}, rank {rank}: parameters left without a gradient", missing, hint=hint)
            differences = [float(abs(torch.from_numpy(got) - torch.from_numpy(want)).max())
                           for got, want in zip(grads, result["expected"][step]) if got is not None]
            worst = max(differences, default=float("inf"))
            check.bound(f"step {step}, rank {rank}: largest |gradient - average|", worst, upper=1e-6, hint=hint)
    for index, grad in enumerate(results[1]["grads"][1]):
        if grad is not None:
            check(f"rank 1, step 1: gradient {index}", torch.from_numpy(grad), **PARAMETER_TOLERANCE, hint=hint)


def test_ddp_copies_buffers(impl, seed, check):
    results = helpers.run_world(impl, 3, "rule_jobs:ddp_buffers", {"seed": seed, "bucket_mb": 25})
    hint = "the constructor copies rank 0's parameters AND buffers (running statistics, counters) to every rank"
    for rank, result in enumerate(results):
        for index, buffer in enumerate(result["buffers"]):
            check(f"rank {rank}: buffer {index}", torch.from_numpy(buffer), hint=hint)
        for index, parameter in enumerate(result["parameters"]):
            check(f"rank {rank}: parameter {index}", torch.from_numpy(parameter), hint=hint)

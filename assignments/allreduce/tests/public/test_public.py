"""Public tests: run them with `dlgrade check notebook.ipynb`. Each starts a small world of
processes on this machine (gloo), runs your function in every rank, and compares it with
torch's own dist.all_reduce run on the same inputs, outside your function."""

import pytest
import torch

import helpers
from helpers import case


def run_and_compare(impl, seed, check, function, algorithm, world_size, cases):
    results = helpers.run_world(impl, world_size, "all_reduce",
                                {"function": function, "seed": seed, "cases": cases, "baseline": True})
    helpers.assert_all_reduce(results, cases, world_size, algorithm)
    helpers.check_all_reduce(check, results, cases, seed, world_size, algorithm)


@pytest.mark.part("naive")
def test_naive_matches_dist_all_reduce(impl, seed, check):
    run_and_compare(impl, seed, check, "naive_all_reduce", "naive", 3,
                    [case(1), case(1000), case(1000, op="avg"), case(10, "int64")])


@pytest.mark.part("ring")
def test_ring_matches_dist_all_reduce(impl, seed, check):
    # n = 2 < world size 4: two of the four chunks are empty.
    run_and_compare(impl, seed, check, "ring_all_reduce", "ring", 4,
                    [case(2), case(1000), case(1001, op="avg"), case((6, 5), layout="transposed")])


@pytest.mark.part("recursive_doubling")
def test_recursive_doubling_matches_dist_all_reduce(impl, seed, check):
    # 3 is not a power of two: one rank folds in and out.
    run_and_compare(impl, seed, check, "recursive_doubling_all_reduce", "recursive_doubling", 3,
                    [case(1), case(1000), case(1000, op="avg")])


@pytest.mark.part("tree")
def test_tree_matches_dist_all_reduce(impl, seed, check):
    run_and_compare(impl, seed, check, "tree_all_reduce", "tree", 5,
                    [case(1), case(1000), case(1000, op="avg")])


@pytest.mark.part("ddp")
def test_ddp_matches_single_process_training(impl, seed, check):
    results = helpers.run_world(impl, 2, "ddp_train",
                                {"seed": seed, "steps": 3, "per_rank_batch": 4, "lr": 0.1, "bucket_mb": 25})
    for rank, result in enumerate(results):
        assert not result["sync"][0]["collectives"], f"rank {rank} called {result['sync'][0]['collectives']}"
        for index, (got, want) in enumerate(zip(result["initial"], results[0]["initial"])):
            assert (got == want).all(), f"rank {rank}'s parameter {index} after construction is not rank 0's"
        for index, (got, want) in enumerate(zip(result["final"], result["single_final"])):
            torch.testing.assert_close(
                torch.from_numpy(got), torch.from_numpy(want), rtol=1e-5, atol=1e-6,
                msg=lambda message, index=index, rank=rank: (
                    f"rank {rank}, parameter {index} after 3 steps: DDP on 2 ranks differs from one process "
                    f"training on the whole batch (gradients averaged, not summed?).\n{message}"))
    for index, parameter in enumerate(results[0]["final"]):
        check(f"parameter {index} after 3 steps", torch.from_numpy(parameter), rtol=1e-5, atol=1e-6)


@pytest.mark.part("ring_perf")
def test_ring_speed_against_dist_all_reduce(impl, seed, check):
    figures = helpers.ring_speed_test(impl, seed, check, 2, "ring_w2_n1e6")
    assert figures["relative_error"] < 1e-5, "the timed ring's result differs from dist.all_reduce's"
    print(f"2 ranks, 10^6 float32: ring {figures['ring_s'] * 1e3:.2f} ms, dist.all_reduce "
          f"{figures['baseline_s'] * 1e3:.2f} ms: {figures['baseline_s'] / figures['ring_s']:.2f}x its speed "
          f"(full credit from 0.3x; spread {figures['spread']:.2f})")

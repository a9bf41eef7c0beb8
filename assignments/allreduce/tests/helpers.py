"""Shared by the allreduce tests (`import helpers`): a world of rank processes, and what each
rank runs.

Parent side (the pytest process):
    results = run_world(impl, world_size, "all_reduce", spec)
starts `world_size` processes, each of which imports the submission from its file, joins a
process group (gloo on CPU, or NCCL with one GPU per rank), runs the named job and sends back
plain values. A rank that raises, crashes or hangs fails the test with a message naming the
ranks; every rank is killed when the world ends, whatever happened (in `finally`).

Rank side: before the submission is imported, `Meter` wraps the ProcessGroup methods that
every `dist.send/isend/recv/irecv` goes through (to count bytes) and every collective (to refuse
it while the submission's function runs).

Processes come from a fork server that imported torch once, so a world of 8 ranks starts in a
fraction of a second instead of importing torch 8 times.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import hashlib
import math
import multiprocessing
import multiprocessing.connection
import os
import sys
import time
import traceback

import torch
import torch.distributed as dist

WORLD_SIZES = (1, 2, 3, 5, 8)
WORLD_TIMEOUT_S = 20.0
UNIT_ROUNDOFF = {torch.float32: 2.0**-24, torch.float64: 2.0**-53}

# Different valid algorithms add the w contributions in different orders, so float results
# may differ from the reference's by a few roundings of the inputs' magnitude (randn inputs,
# w <= 8: well under 1e-4). A wrong algorithm is off by O(1). Integers must match exactly.
RESULT_TOLERANCE = {torch.float32: {"rtol": 1e-5, "atol": 1e-4}, torch.float64: {"rtol": 1e-12, "atol": 1e-12}}
LARGEST_FULL_RECORD = 4096  # larger results are compared on this many sampled elements


# ---------------------------------------------------------------------------------------------
# Inputs: every rank and the parent derive the same tensors from (seed, case, rank).
# ---------------------------------------------------------------------------------------------

def case(shape, dtype="float32", op="sum", layout="contiguous") -> dict:
    """One all-reduce call. layout: "contiguous", "transposed" (a 2-D .t() view) or
    "strided" (every other row of a larger tensor)."""
    shape = [shape] if isinstance(shape, int) else list(shape)
    dims = "x".join(str(size) for size in shape) or "1 (0-d)"
    name = f"n={dims} {dtype} {op}" + ("" if layout == "contiguous" else f" {layout}")
    return {"name": name, "shape": shape, "dtype": dtype, "op": op, "layout": layout}


def mix(*numbers: int) -> int:
    """A 63-bit seed from several integers (no two cases or ranks share a stream)."""
    digest = hashlib.sha256(":".join(str(number) for number in numbers).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def make_input(seed: int, case_index: int, rank: int, spec: dict) -> torch.Tensor:
    generator = torch.Generator().manual_seed(mix(seed, case_index, rank))
    dtype = getattr(torch, spec["dtype"])
    shape = list(spec["shape"])
    if spec["layout"] == "transposed":
        base_shape = shape[::-1]
    elif spec["layout"] == "strided":
        base_shape = [2 * shape[0]] + shape[1:]
    else:
        base_shape = shape
    if dtype.is_floating_point:
        base = torch.randn(base_shape, generator=generator, dtype=dtype)
    else:  # small enough that a sum over 8 ranks fits in int32
        base = torch.randint(-(2**20), 2**20, base_shape, generator=generator, dtype=dtype)
    if spec["layout"] == "transposed":
        return base.t()
    if spec["layout"] == "strided":
        return base[::2]
    return base


def exact_all_reduce(seed: int, case_index: int, spec: dict, world_size: int):
    """The exact result (float64 / int64) and, for floats, the rounding allowance per element:
    a sum of w float terms in any order is within (w-1)·u·Σ|x| of the exact one, and avg's
    division adds u·|result| (u: the dtype's unit roundoff). Twice that, for slack."""
    inputs = (make_input(seed, case_index, rank, spec) for rank in range(world_size))
    first = next(inputs)
    dtype = first.dtype
    if not dtype.is_floating_point:
        total = first.to(torch.int64)
        for x in inputs:
            total += x
        return total, None
    total, magnitude = first.to(torch.float64), first.abs().to(torch.float64)
    for x in inputs:
        total += x
        magnitude += x.abs()
    u = UNIT_ROUNDOFF[dtype]
    allowance = magnitude.mul_((world_size - 1) * u)
    if spec["op"] == "avg":
        total /= world_size
        allowance = allowance.div_(world_size).add_(total.abs().mul_(u))
    return total, 2 * allowance + torch.finfo(dtype).tiny


# ---------------------------------------------------------------------------------------------
# Parent side: launching a world.
# ---------------------------------------------------------------------------------------------

class WorldFailed(AssertionError):
    """A rank raised, crashed or did not finish; the message says which and how."""


def run_world(impl, world_size: int, job: str, spec: dict, *, backend: str = "gloo",
              timeout_s: float = WORLD_TIMEOUT_S) -> list[dict]:
    """Run `job` on `world_size` ranks that import the submission `impl`; one result per rank."""
    submission_path = os.path.realpath(impl.__file__)
    # The parent hosts the rendezvous store on a port the kernel picks: no fixed port, no race.
    store = dist.TCPStore("127.0.0.1", 0, world_size, is_master=True, wait_for_workers=False,
                          timeout=datetime.timedelta(seconds=timeout_s))
    context = _process_context()
    processes, receivers = [], []
    try:
        for rank in range(world_size):
            receiver, sender = context.Pipe(duplex=False)
            process = context.Process(
                target=_rank_main, name=f"rank{rank}", daemon=True,
                args=(rank, world_size, backend, store.port, submission_path, job, spec, timeout_s, sender),
            )
            process.start()
            sender.close()
            processes.append(process)
            receivers.append(receiver)
        return _collect(processes, receivers, timeout_s)
    finally:
        _kill(processes)
        for receiver in receivers:
            receiver.close()
        del store


def _process_context():
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # Imported once in the fork server; each rank is a fork of it (no CUDA, no threads yet).
    context.set_forkserver_preload(["torch", "torch.distributed", "helpers"])
    return context


def _collect(processes, receivers, timeout_s: float) -> list[dict]:
    world_size = len(processes)
    deadline = time.monotonic() + timeout_s
    results: list = [None] * world_size
    errors: dict[int, str] = {}
    died: dict[int, int | None] = {}
    pending = set(range(world_size))
    while pending and not errors and not died:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        waitables = [receivers[rank] for rank in pending] + [processes[rank].sentinel for rank in pending]
        multiprocessing.connection.wait(waitables, timeout=remaining)
        for rank in sorted(pending):
            if receivers[rank].poll():
                try:
                    status, payload = receivers[rank].recv()
                except (EOFError, OSError):
                    status, payload = "died", None
                if status == "ok":
                    results[rank] = payload
                elif status == "error":
                    errors[rank] = payload
                else:
                    died[rank] = processes[rank].exitcode
                pending.discard(rank)
            elif not processes[rank].is_alive():
                died[rank] = processes[rank].exitcode
                pending.discard(rank)
    if errors:
        raise WorldFailed(_describe_errors(errors, world_size))
    if died:
        ranks = sorted(died)
        codes = ", ".join(str(died[rank]) for rank in ranks)
        raise WorldFailed(f"{_ranks_phrase(ranks, world_size)} exited (code {codes}) without returning a "
                          "result: a crash, sys.exit or running out of memory?")
    if pending:
        stuck = sorted(pending)
        raise WorldFailed(
            f"{_ranks_phrase(stuck, world_size)} did not finish within {timeout_s:g} s (world of "
            f"{world_size}): a recv without a matching send, or blocking sends that wait on each other? "
            "Every send needs a recv posted on the other rank with the same size; around a ring, "
            "use isend so that sending does not wait for the neighbour."
        )
    return results


def _describe_errors(errors: dict[int, str], world_size: int) -> str:
    messages: dict[str, list[int]] = {}
    for rank, message in sorted(errors.items()):
        messages.setdefault(message, []).append(rank)
    parts = [f"{_ranks_phrase(ranks, world_size)} raised {message}" for message, ranks in messages.items()]
    return "; ".join(parts[:3])


def _ranks_phrase(ranks: list[int], world_size: int) -> str:
    if len(ranks) == world_size and world_size > 1:
        return f"all {world_size} ranks"
    if len(ranks) == 1:
        return f"rank {ranks[0]}"
    return "ranks " + ", ".join(str(rank) for rank in ranks[:-1]) + f" and {ranks[-1]}"


def _kill(processes) -> None:
    """SIGKILL every rank. Ranks stay in the sandbox's process group (which the sandbox kills
    whole when a run ends), so a rank that outlives a killed parent still dies with the run;
    one orphaned otherwise gives up at the process group's own timeout."""
    for process in processes:
        if process.pid is not None:
            with contextlib.suppress(OSError):
                process.kill()
    for process in processes:
        if process.pid is not None:
            process.join(timeout=10)


# ---------------------------------------------------------------------------------------------
# Parent side: checks shared by the all-reduce tests.
# ---------------------------------------------------------------------------------------------

def as_tensor(value) -> torch.Tensor:
    return torch.from_numpy(value) if not isinstance(value, torch.Tensor) else value


def check_all_reduce(check, results: list[dict], cases: list[dict], seed: int, world_size: int,
                     algorithm: str | None = None) -> None:
    """Record every case of an `all_reduce` job: the result (rank 0's; sampled when large), that
    all ranks hold the same bits, the error against the exact sum, and the bytes each rank sent
    against `algorithm`'s volume (only where n >= world size, where every chunk is non-empty)."""
    collectives = set()
    for index, spec in enumerate(cases):
        label = spec["name"]
        per_rank = [result["cases"][index] for result in results]
        output = as_tensor(per_rank[0]["output"])  # rank 0's; the others sent digests
        for item in per_rank:
            collectives.update(item["collectives"])
        check.exact(f"{label}: distinct results over the ranks", len({item["digest"] for item in per_rank}),
                    hint="every rank must end with exactly the same result: compute each element's final "
                         "value on one rank and copy it to the others")
        record_result(check, f"{label}: result", output, seed)
        # Rank 0's result against the exact one (the other ranks hold the same bits, checked above).
        exact, allowance = exact_all_reduce(seed, index, spec, world_size)
        if allowance is None:
            check.exact(f"{label}: difference from the exact integer sum", output.to(torch.int64) - exact)
        else:
            error = exact.sub_(output).abs_().div_(allowance)
            check.bound(f"{label}: largest error / rounding allowance", float(error.max()) if error.numel() else 0.0,
                        upper=1.0, hint="some elements are not the sum (or the average) over all ranks")
        n = math.prod(spec["shape"])
        if algorithm is not None and n >= world_size:
            element_size = output.element_size()
            sent = [item["bytes_sent"] for item in per_rank]
            for what, value, (lower, upper), hint in volume_checks(algorithm, sent, n, element_size, world_size):
                check.bound(f"{label}: {what}", value, lower=lower, upper=upper, hint=hint)
    check.exact("collectives called inside your function", sorted(collectives),
                hint="only dist.send, dist.recv, dist.isend and dist.irecv are allowed")


def record_result(check, name: str, tensor: torch.Tensor, seed: int) -> None:
    """`check` the tensor, or a fixed random sample of its elements when it is large."""
    tolerance = RESULT_TOLERANCE.get(tensor.dtype)
    if tensor.numel() > LARGEST_FULL_RECORD:
        generator = torch.Generator().manual_seed(mix(seed, tensor.numel()))
        positions = torch.randint(tensor.numel(), (LARGEST_FULL_RECORD,), generator=generator).sort().values
        tensor, name = tensor.reshape(-1)[positions], f"{name} (sampled elements)"
    if tolerance is None:
        check.exact(name, tensor)
    else:
        check(name, tensor, **tolerance)


def volume_checks(algorithm: str, sent: list[int], n: int, element_size: int, world_size: int):
    """(what, measured, (lower, upper), hint) for the bytes each algorithm must send.
    N = n·element_size bytes; p = largest power of two <= w, rem = w - p."""
    w, size = world_size, n * element_size
    total, busiest, least = sum(sent), max(sent), min(sent)
    if algorithm == "naive":
        return [
            ("total bytes sent", total, (2 * (w - 1) * size,) * 2,
             "naive: each rank but 0 sends its n elements to rank 0, which sends the result to each of them"),
            ("bytes sent by the busiest rank", busiest, ((w - 1) * size,) * 2,
             "naive: rank 0 sends the result to each of the w-1 other ranks"),
        ]
    if algorithm == "ring":
        ideal, chunk = 2 * (w - 1) * size / w, math.ceil(n / w) * element_size
        hint = ("a ring rank sends 2(w-1) chunks of about n/w elements: one per step of the "
                "reduce-scatter and of the all-gather, never the whole tensor")
        return [
            ("total bytes sent", total, (2 * (w - 1) * size,) * 2, hint),
            ("bytes sent by the busiest rank", busiest, (ideal - chunk, ideal + chunk), hint),
            ("bytes sent by the least busy rank", least, (ideal - chunk, ideal + chunk), hint),
        ]
    if algorithm == "recursive_doubling":
        power = 1 << (w.bit_length() - 1)
        rounds, remainder = power.bit_length() - 1, w - power
        return [
            ("total bytes sent", total, ((power * rounds + 2 * remainder) * size,) * 2,
             "butterfly: the p = 2^k active ranks each send n elements per round, for k rounds; "
             "the w - p extra ranks fold in (n elements each) and get the result back (n each)"),
            ("bytes sent by the busiest rank", busiest, ((rounds + (remainder > 0)) * size,) * 2,
             "butterfly: no rank sends more than n elements per round"),
        ]
    if algorithm == "tree":
        depth = (w - 1).bit_length()  # ceil(log2 w)
        return [
            ("total bytes sent", total, (2 * (w - 1) * size,) * 2,
             "binomial tree: each rank but the root sends n elements up once, and each rank but the "
             "root receives n elements down once"),
            ("bytes sent by the busiest rank", busiest, (depth * size,) * 2,
             "binomial tree: the root has ceil(log2 w) children and sends to each; no rank has more"),
        ]
    raise ValueError(f"unknown algorithm {algorithm!r}")


def summarize_times(times: list[float]) -> tuple[float, float]:
    """Median and spread (interquartile range / median) of a list of seconds."""
    ordered = sorted(times)
    count = len(ordered)
    median = ordered[count // 2]
    spread = (ordered[(3 * count) // 4] - ordered[count // 4]) / median
    return median, spread


# ---------------------------------------------------------------------------------------------
# Rank side.
# ---------------------------------------------------------------------------------------------

COLLECTIVE_FUNCTIONS = [
    "all_reduce", "all_reduce_coalesced", "reduce", "broadcast", "all_gather", "all_gather_into_tensor",
    "_all_gather_base", "all_gather_coalesced", "all_gather_object", "reduce_scatter", "reduce_scatter_tensor",
    "_reduce_scatter_base", "all_to_all", "all_to_all_single", "gather", "gather_object", "scatter",
    "scatter_object_list", "broadcast_object_list", "barrier", "monitored_barrier",
]
COLLECTIVE_METHODS = [
    "allreduce", "allreduce_coalesced", "reduce", "broadcast", "allgather", "_allgather_base",
    "allgather_coalesced", "allgather_into_tensor_coalesced", "all_gather_single", "all_gather_single_coalesced",
    "reduce_scatter", "_reduce_scatter_base", "reduce_scatter_single", "reduce_scatter_single_coalesced",
    "reduce_scatter_tensor_coalesced", "alltoall", "alltoall_base", "all_to_all_single", "gather", "scatter",
    "barrier", "monitored_barrier",
]


class CollectiveForbidden(RuntimeError):
    pass


class Meter:
    """Counts the bytes and messages this rank sends and receives, and refuses collectives while
    the submission's code runs (`with meter.student_call() as usage:`)."""

    def __init__(self):
        self.student_running = False
        self.bytes_sent = self.messages_sent = self.bytes_received = 0
        self.collectives: list[str] = []

    def install(self) -> "Meter":
        from torch._C import _distributed_c10d as c10d_classes
        from torch.distributed import distributed_c10d

        for cls in (c10d_classes.ProcessGroup, c10d_classes.Backend):
            if "send" in vars(cls):
                setattr(cls, "send", self._counting(vars(cls)["send"], sent=True))
            for name in ("recv", "recv_anysource"):
                if name in vars(cls):
                    setattr(cls, name, self._counting(vars(cls)[name], sent=False))
            for name in COLLECTIVE_METHODS:
                if name in vars(cls):
                    setattr(cls, name, self._refusing(vars(cls)[name], f"ProcessGroup.{name}"))
        for module in (dist, distributed_c10d):
            for name in COLLECTIVE_FUNCTIONS:
                if callable(getattr(module, name, None)):
                    setattr(module, name, self._refusing(getattr(module, name), f"dist.{name}"))
        return self

    def _counting(self, original, sent: bool):
        meter = self

        def counted(process_group, tensors, *args, **kwargs):
            size = sum(t.numel() * t.element_size() for t in tensors)
            if sent:
                meter.bytes_sent += size
                meter.messages_sent += 1
            else:
                meter.bytes_received += size
            return original(process_group, tensors, *args, **kwargs)

        return counted

    def _refusing(self, original, name: str):
        meter = self

        @functools.wraps(original)
        def refused(*args, **kwargs):
            if meter.student_running:
                meter.collectives.append(name)
                raise CollectiveForbidden(
                    f"{name} is a collective, and collectives are not allowed here: build it from "
                    "dist.send, dist.recv, dist.isend and dist.irecv")
            return original(*args, **kwargs)

        return refused

    @contextlib.contextmanager
    def student_call(self):
        self.bytes_sent = self.messages_sent = self.bytes_received = 0
        self.collectives = []
        usage: dict = {}
        self.student_running = True
        try:
            yield usage
        finally:
            self.student_running = False
            usage.update(bytes_sent=self.bytes_sent, messages_sent=self.messages_sent,
                         bytes_received=self.bytes_received, collectives=sorted(set(self.collectives)))


class Rank:
    def __init__(self, rank: int, world_size: int, device: torch.device, meter: Meter):
        self.rank, self.world_size, self.device, self.meter = rank, world_size, device, meter

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


def _rank_main(rank, world_size, backend, store_port, submission_path, job, spec, timeout_s, sender):
    try:
        torch.set_num_threads(1)  # up to 8 ranks share a few cores
        meter = Meter().install()  # before the submission can take references to dist's functions
        device = _join_world(rank, world_size, backend, store_port, timeout_s)
        submission = _import_submission(submission_path)
        result = _job(job)(submission, Rank(rank, world_size, device, meter), spec)
        sender.send(("ok", result))
    except BaseException as error:  # noqa: BLE001 - whatever happens, the parent hears of it
        with contextlib.suppress(BaseException):
            sender.send(("error", _describe_exception(error, submission_path)))
    finally:
        with contextlib.suppress(BaseException):
            sender.close()
        os._exit(0)  # no process-group teardown: the parent kills the world anyway


def _job(name: str):
    """A job of this module by name, or `module:function` from another tests module (hidden jobs
    live outside this file, which is released with the public tests)."""
    if ":" not in name:
        return JOBS[name]
    import importlib

    module, function = name.split(":")
    return getattr(importlib.import_module(module), function)


def _join_world(rank, world_size, backend, store_port, timeout_s) -> torch.device:
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo0" if sys.platform == "darwin" else "lo")
    os.environ["NCCL_NVLS_ENABLE"] = "0"  # NVLink SHARP (multicast) off, whatever the host set
    timeout = datetime.timedelta(seconds=timeout_s)
    store = dist.TCPStore("127.0.0.1", store_port, world_size, is_master=False, timeout=timeout)
    if backend == "nccl":
        device = torch.device("cuda", rank)
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", store=store, rank=rank, world_size=world_size, timeout=timeout,
                                device_id=device)
    else:
        device = torch.device("cpu")
        dist.init_process_group(backend, store=store, rank=rank, world_size=world_size, timeout=timeout)
    return device


def _import_submission(path: str):
    import importlib.util

    from autograder.harness.cells import is_manifest, load_cells

    if is_manifest(path):  # a notebook: its cells, run one by one as the harness does
        return load_cells(path, "submission")
    if os.path.basename(path) == "__init__.py":  # a package (the reference)
        spec = importlib.util.spec_from_file_location(
            "submission", path, submodule_search_locations=[os.path.dirname(path)])
    else:
        spec = importlib.util.spec_from_file_location("submission", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["submission"] = module
    spec.loader.exec_module(module)
    return module


def _describe_exception(error: BaseException, submission_path: str) -> str:
    """`IndexError: tuple index out of range (at cell `ring` (In [9]) line 42)` for a notebook,
    `(submission.py line 42, in ring_all_reduce)` for a module."""
    from autograder.harness.cells import location_text

    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    if location_text(error):
        return (text + location_text(error))[:1500]
    submission_dir = os.path.dirname(submission_path)
    frames = [frame for frame in traceback.extract_tb(error.__traceback__)
              if os.path.realpath(frame.filename).startswith(submission_dir)]
    if frames:
        frame = frames[-1]
        text += f" ({os.path.basename(frame.filename)} line {frame.lineno}, in {frame.name})"
    return text[:1500]


def _plain(tensor: torch.Tensor):
    """A numpy array with the tensor's logical shape (what crosses the pipe)."""
    return tensor.detach().to("cpu").contiguous().numpy()


def _digest(tensor: torch.Tensor) -> str:
    """The dtype, shape and exact bytes of a tensor, hashed."""
    plain = tensor.detach().to("cpu").contiguous()
    data = plain.reshape(-1).view(torch.uint8).numpy().tobytes() if plain.numel() else b""
    return hashlib.sha256(f"{plain.dtype}{list(plain.shape)}".encode() + data).hexdigest()


# --- jobs: (submission, Rank, spec) -> plain data ----------------------------------------------

def job_all_reduce(submission, me: Rank, spec: dict) -> dict:
    """Run `spec["function"]` on every case; with `spec["baseline"]`, also dist.all_reduce (outside
    the submission's call) on the same input, for the public tests' independent comparison."""
    function = getattr(submission, spec["function"])
    cases = []
    for index, one_case in enumerate(spec["cases"]):
        tensor = make_input(spec["seed"], index, me.rank, one_case).to(me.device)
        with me.meter.student_call() as usage:
            function(tensor, op=one_case["op"])
        me.synchronize()
        # Rank 0 sends its result; the others send a digest of theirs (the same bits or not).
        item = {"output": _plain(tensor) if me.rank == 0 else None, "digest": _digest(tensor), **usage}
        if spec.get("baseline"):
            expected = make_input(spec["seed"], index, me.rank, one_case).to(me.device).contiguous()
            dist.all_reduce(expected)
            if one_case["op"] == "avg":
                expected /= me.world_size
            item["baseline"] = _plain(expected) if me.rank == 0 else None
        cases.append(item)
    return {"cases": cases}


def job_ring_timing(submission, me: Rank, spec: dict) -> dict:
    """Interleaved timing of the submission's ring against dist.all_reduce on the same data.
    Every round starts after a barrier; the parent takes the slowest rank's time per round."""
    x = make_input(spec["seed"], 0, me.rank, case(spec["n"])).to(me.device)
    work, baseline = x.clone(), x.clone()
    function = getattr(submission, spec.get("function", "ring_all_reduce"))

    def timed(run) -> float:
        dist.barrier()
        me.synchronize()
        start = time.perf_counter()
        run()
        me.synchronize()
        return time.perf_counter() - start

    def student():
        with me.meter.student_call():
            function(work)

    student_times, baseline_times = [], []
    started = time.perf_counter()
    for round_index in range(spec["warmup"] + spec["rounds"]):
        if round_index >= spec["warmup"] + spec.get("min_rounds", 5) and _stop_now(
                me, time.perf_counter() - started > spec.get("budget_s", float("inf"))):
            break  # a slow submission gets fewer rounds, not a timeout
        work.copy_(x)
        baseline.copy_(x)
        if round_index % 2 == 0:  # alternate who goes first
            student_s, baseline_s = timed(student), timed(lambda: dist.all_reduce(baseline))
        else:
            baseline_s, student_s = timed(lambda: dist.all_reduce(baseline)), timed(student)
        if round_index >= spec["warmup"]:
            student_times.append(student_s)
            baseline_times.append(baseline_s)
    error = float((work.double() - baseline.double()).abs().max() / baseline.double().abs().max().clamp_min(1e-30))
    return {"student_times": student_times, "baseline_times": baseline_times, "relative_error": error,
            "collectives": sorted(set(me.meter.collectives))}


def _stop_now(me: Rank, over_budget: bool) -> bool:
    """Rank 0's decision, shared with every rank (outside the submission's call)."""
    flag = torch.tensor([1.0 if over_budget else 0.0], device=me.device)
    dist.broadcast(flag, src=0)
    return bool(flag.item())


def make_model(seed: int, widths=(8, 32, 32, 4), frozen_first_bias: bool = False) -> torch.nn.Module:
    torch.manual_seed(seed)
    layers = []
    for index, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(torch.nn.Linear(fan_in, fan_out))
        if index < len(widths) - 2:
            layers.append(torch.nn.Tanh())
    model = torch.nn.Sequential(*layers)
    if frozen_first_bias:
        model[0].bias.requires_grad_(False)
    return model


def make_batch(seed: int, size: int, widths=(8, 32, 32, 4)) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(mix(seed, size, 7))
    x = torch.randn(size, widths[0], generator=generator)
    y = torch.randn(size, widths[-1], generator=generator)
    return x, y


def _parameters(model) -> list:
    return [_plain(p) for p in model.parameters()]


@torch.no_grad()
def sgd_step(model: torch.nn.Module, lr: float) -> None:
    """Plain SGD by hand (torch.optim's first step imports torch._dynamo: seconds per rank)."""
    for parameter in model.parameters():
        if parameter.grad is not None:
            parameter.add_(parameter.grad, alpha=-lr)


def job_ddp_train(submission, me: Rank, spec: dict) -> dict:
    """Each rank builds the model from its own seed (DDP must replace it with rank 0's), trains on
    its shard of the global batch, and also trains a plain single-process model on the whole batch
    (no submission code) for the comparison."""
    seed, steps, per_rank = spec["seed"], spec["steps"], spec["per_rank_batch"]
    widths = tuple(spec.get("widths", (8, 32, 32, 4)))
    model = make_model(mix(seed, me.rank), widths, spec.get("frozen", False))
    with me.meter.student_call() as construction:
        ddp = submission.BucketedDDP(model, bucket_mb=spec["bucket_mb"])
    initial = _parameters(model)
    x, y = make_batch(seed, per_rank * me.world_size, widths)
    shard = slice(me.rank * per_rank, (me.rank + 1) * per_rank)
    sync_usage = []
    for _ in range(steps):
        model.zero_grad(set_to_none=True)
        with me.meter.student_call() as usage:
            loss = torch.nn.functional.mse_loss(ddp(x[shard]), y[shard])
            loss.backward()
            ddp.finish_gradient_synchronization()
        sync_usage.append(usage)
        sgd_step(model, spec["lr"])
    frozen_grad_is_none = [p.grad is None for p in model.parameters() if not p.requires_grad]

    single = make_model(mix(seed, 0), widths, spec.get("frozen", False))
    for _ in range(steps):
        single.zero_grad(set_to_none=True)
        torch.nn.functional.mse_loss(single(x), y).backward()
        sgd_step(single, spec["lr"])
    return {
        "initial": initial, "final": _parameters(model), "single_final": _parameters(single),
        "frozen_grad_is_none": frozen_grad_is_none, "construction": construction, "sync": sync_usage,
    }


def job_ddp_accumulate(submission, me: Rank, spec: dict) -> dict:
    """Micro-batches 0..m-2 under no_sync (nothing may be sent), the last one synchronised: the
    gradients must equal a single process's, summed over micro-batches of the global batch."""
    seed, micro, per_rank = spec["seed"], spec["micro_batches"], spec["per_rank_batch"]
    model = make_model(mix(seed, me.rank))
    with me.meter.student_call() as construction:
        ddp = submission.BucketedDDP(model, bucket_mb=spec["bucket_mb"])
    batches = [make_batch(mix(seed, index), per_rank * me.world_size) for index in range(micro)]
    shard = slice(me.rank * per_rank, (me.rank + 1) * per_rank)
    with me.meter.student_call() as unsynchronized:
        with ddp.no_sync():
            for x, y in batches[:-1]:
                torch.nn.functional.mse_loss(ddp(x[shard]), y[shard]).backward()
                if spec.get("finish_inside_no_sync"):  # the training loop calls it every micro-batch
                    ddp.finish_gradient_synchronization()
    local_grads_after_no_sync = [_plain(p.grad) for p in model.parameters()]
    with me.meter.student_call() as synchronized:
        x, y = batches[-1]
        torch.nn.functional.mse_loss(ddp(x[shard]), y[shard]).backward()
        ddp.finish_gradient_synchronization()
    single = make_model(mix(seed, 0))
    for x, y in batches:
        torch.nn.functional.mse_loss(single(x), y).backward()
    return {
        "grads": [_plain(p.grad) for p in model.parameters()],
        "single_grads": [_plain(p.grad) for p in single.parameters()],
        "local_grads_after_no_sync": local_grads_after_no_sync,
        "unsynchronized": unsynchronized, "synchronized": synchronized, "construction": construction,
    }


def job_ddp_buckets(submission, me: Rank, spec: dict) -> dict:
    """One backward and synchronisation per bucket size; what finish_gradient_synchronization sent."""
    widths = tuple(spec["widths"])
    out = []
    for bucket_mb in spec["bucket_mbs"]:
        model = make_model(mix(spec["seed"], 0), widths)  # the same on every rank
        ddp_usage = {}
        with me.meter.student_call() as construction:
            ddp = submission.BucketedDDP(model, bucket_mb=bucket_mb)
        x, y = make_batch(mix(spec["seed"], me.rank), spec["per_rank_batch"], widths)
        with me.meter.student_call() as backward:
            torch.nn.functional.mse_loss(ddp(x), y).backward()
        with me.meter.student_call() as synchronization:
            ddp.finish_gradient_synchronization()
        ddp_usage.update(construction=construction, backward=backward, synchronization=synchronization)
        # The average of every rank's gradient, computed here in plain torch for comparison.
        expected = [torch.zeros_like(p) for p in model.parameters()]
        for rank in range(me.world_size):
            replica = make_model(mix(spec["seed"], 0), widths)
            x, y = make_batch(mix(spec["seed"], rank), spec["per_rank_batch"], widths)
            torch.nn.functional.mse_loss(replica(x), y).backward()
            for total, parameter in zip(expected, replica.parameters()):
                total += parameter.grad / me.world_size
        out.append({"grads": [_plain(p.grad) for p in model.parameters()],
                    "expected_grads": [_plain(g) for g in expected], **ddp_usage})
    return {"configs": out}


JOBS = {
    "all_reduce": job_all_reduce,
    "ring_timing": job_ring_timing,
    "ddp_train": job_ddp_train,
    "ddp_accumulate": job_ddp_accumulate,
    "ddp_buckets": job_ddp_buckets,
}


# ---------------------------------------------------------------------------------------------
# Test bodies shared by the four algorithms' test files.
# ---------------------------------------------------------------------------------------------

SIZE_CASES = [case(1), case(7), case(1000), case(10**6)]
DTYPE_AND_LAYOUT_CASES = [
    case(1000, op="avg"), case(7, op="avg"), case(1000, "float64"), case(999, "float64", "avg"),
    case(1000, "int64"), case(37, "int32"), case(()), case((13, 17)), case((2, 3, 5)),
    case((17, 13), layout="transposed"), case((9, 4), layout="strided"), case((16, 3), "float64", "avg", "transposed"),
    case((6, 5), "int64", layout="strided"),
]


def all_reduce_test(impl, seed: int, check, function: str, algorithm: str, world_size: int, cases: list[dict],
                    backend: str = "gloo") -> list[dict]:
    """Run `function` on every case in one world and record everything `check_all_reduce` checks."""
    results = run_world(impl, world_size, "all_reduce",
                        {"function": function, "seed": seed, "cases": cases}, backend=backend)
    check_all_reduce(check, results, cases, seed, world_size, algorithm)
    return results


def assert_all_reduce(results: list[dict], cases: list[dict], world_size: int, algorithm: str) -> None:
    """The public tests' own verdict, for `dlgrade check`: every rank against dist.all_reduce,
    the same bits everywhere, the bytes sent and no collectives."""
    for index, spec in enumerate(cases):
        label = spec["name"]
        per_rank = [result["cases"][index] for result in results]
        output = as_tensor(per_rank[0]["output"])
        for rank, item in enumerate(per_rank):
            assert not item["collectives"], f"{label}: rank {rank} called {item['collectives']}"
        torch.testing.assert_close(
            output, as_tensor(per_rank[0]["baseline"]), **RESULT_TOLERANCE.get(output.dtype, {}),
            msg=lambda message: f"{label}, rank 0: differs from dist.all_reduce.\n{message}")
        for rank, item in enumerate(per_rank[1:], start=1):
            assert item["digest"] == per_rank[0]["digest"], (
                f"{label}: rank {rank}'s result is not bit-for-bit rank 0's; compute each element's final value "
                "on one rank and copy it, rather than adding in a different order on each rank")
        if math.prod(spec["shape"]) >= world_size:
            element_size = output.element_size()
            sent = [item["bytes_sent"] for item in per_rank]
            for what, value, (lower, upper), hint in volume_checks(
                    algorithm, sent, math.prod(spec["shape"]), element_size, world_size):
                assert lower <= value <= upper, (
                    f"{label}: {what} is {value}, expected {lower:g} to {upper:g} (bytes sent per rank: {sent}). "
                    f"{hint}")


def ring_speed_test(impl, seed: int, check, world_size: int, perf_name: str, n: int = 10**6) -> dict:
    """Time the ring against dist.all_reduce (interleaved rounds, slowest rank per round) and
    record the perf figures; returns them for the test to print."""
    results = run_world(impl, world_size, "ring_timing",
                        {"seed": seed, "n": n, "warmup": 2, "rounds": 15, "budget_s": 4}, timeout_s=90)
    check.bound("timed ring: largest difference from dist.all_reduce (relative)", results[0]["relative_error"],
                upper=1e-5, hint="the ring that was timed did not compute the all-reduce")
    check.exact("collectives called inside your ring", sorted({c for r in results for c in r["collectives"]}),
                hint="only dist.send, dist.recv, dist.isend and dist.irecv are allowed")
    ring_s, spread = summarize_times([max(t) for t in zip(*(r["student_times"] for r in results))])
    baseline_s, _ = summarize_times([max(t) for t in zip(*(r["baseline_times"] for r in results))])
    gigabytes = n * 4 / 1e9
    figures = {"ring algbw GB/s": gigabytes / ring_s, "dist.all_reduce algbw GB/s": gigabytes / baseline_s,
               "ring busbw GB/s": gigabytes / ring_s * 2 * (world_size - 1) / world_size}
    check.perf(perf_name, student_s=ring_s, baseline_s=baseline_s, spread=spread, details=figures)
    return {"ring_s": ring_s, "baseline_s": baseline_s, "spread": spread, **figures,
            "relative_error": results[0]["relative_error"]}

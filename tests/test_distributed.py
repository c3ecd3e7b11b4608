"""Multi-process training on the CPU (gloo, 2 processes): the run, its shards, its files, its resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch

from companion.checkpoint import GAN_FORMAT, load_checkpoint

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
TINY = ["--dataset", "synthetic", "--batch-size", "32", "--fid-samples", "0", "--n-fixed", "8", "--device", "cpu"]
TINY += ["--deterministic", "true", "--no-progress"]


def torchrun(n: int, *args: str, command: tuple[str, ...] = ("train",)) -> subprocess.CompletedProcess:
    """``torchrun --standalone`` of ``companion train``; on failure its stderr ends with every worker's full output.

    torchrun's own error report names the failing rank but not what it printed; with
    ``--redirects 3`` each worker's stdout and stderr go to files under ``--log-dir``, which are
    appended here, so a crash (a SIGABRT, a traceback) names itself in the test's message.
    """
    with tempfile.TemporaryDirectory(prefix="torchrun-logs-") as logs:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(n)]
        cmd += ["--redirects", "3", "--log-dir", logs, "-m", "companion", *command, *args]
        r = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=300)
        if r.returncode != 0:
            for f in sorted(Path(logs).rglob("*.log")):
                r.stderr += f"\n--- {f.relative_to(logs)} ---\n{f.read_text(errors='replace')}"
    return r


def ok(r: subprocess.CompletedProcess) -> bool:
    """Assert a torchrun succeeded, showing the workers' output when it did not."""
    assert r.returncode == 0, f"torchrun exited with {r.returncode}\n{r.stderr}"
    return True


def single(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "companion", "train", *args], capture_output=True, text=True, env=ENV)


@pytest.fixture(scope="module")
def run2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ddp") / "run"
    ok(torchrun(2, *TINY, "--epochs", "1", "--out", str(out)))
    return out


def test_two_process_run_writes_one_run_folder(run2: Path) -> None:
    records = [json.loads(x) for x in (run2 / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if r["type"] == "step"]
    assert len(steps) == 1024 // (32 * 2)  # each epoch covers the data once, shared by the two ranks
    assert [r["epoch"] for r in records if r["type"] == "epoch"] == [1]
    ck = load_checkpoint(run2 / "ckpt.pt", GAN_FORMAT)
    assert ck["meta"]["world_size"] == 2 and len(ck["rng"]["latent_ranks"]) == 2
    assert not any(k.startswith("module.") for k in ck["generator"])  # loadable without DDP
    assert json.loads((run2 / "config.json").read_text())["config"]["batch_size"] == 32


def test_fid_under_torchrun_is_scored_by_rank_0_without_a_deadlock(tmp_path: Path) -> None:
    """With FID on, only rank 0 scores; torchmetrics' default sync would wait for rank 1 forever."""
    out = tmp_path / "run"
    args = [a for a in TINY if a not in ("--fid-samples", "0")]
    ok(torchrun(2, *args, "--fid-samples", "256", "--epochs", "1", "--out", str(out)))
    epochs = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    fid = [e["fid"] for e in epochs if e["type"] == "epoch"]
    assert len(fid) == 1 and fid[0] > 0


def test_a_failing_worker_names_its_error_in_the_report(tmp_path: Path) -> None:
    """The helper's report holds what the workers printed (the SIGABRT once hid behind torchrun's summary)."""
    r = torchrun(2, *TINY, "--epochs", "1", "--loss", "nope", "--out", str(tmp_path / "r"))
    assert r.returncode != 0
    # At least the first failing rank's own log line. Not "both ranks": torchrun stops the other
    # worker as soon as one fails, and on a busy machine that worker can be killed before it reads
    # its options (seen once in 4 runs of this file beside a training job: rank 1's log was empty).
    assert r.stderr.count("unknown loss 'nope'") >= 1
    assert "stderr.log ---" in r.stderr  # the workers' own files were appended to the report


def test_training_under_torchrun_destroys_its_process_group(tmp_path: Path) -> None:
    """run_training leaves no process group behind on any rank (see companion.distributed.teardown)."""
    script = tmp_path / "probe.py"
    script.write_text(
        "import sys, torch.distributed as dist\n"
        "from companion.config import make_config\n"
        "from companion.experiment import run_training\n"
        f"cfg = make_config(None, dataset='synthetic', epochs=1, batch_size=32, fid_samples=0, n_fixed=8, "
        f"device='cpu')\n"
        f"run_training(cfg, {str(tmp_path / 'run')!r}, progress=False, render=False)\n"
        "print('initialized after training:', dist.is_initialized(), flush=True)\n"
    )
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", str(script)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("initialized after training: False") == 2, r.stdout


def test_checkpoint_of_a_distributed_run_samples_in_one_process(run2: Path, tmp_path: Path) -> None:
    import numpy as np

    out = tmp_path / "s.npy"
    r = subprocess.run(
        [sys.executable, "-m", "companion", "sample", "--checkpoint", str(run2 / "ckpt.pt"), "--n", "5",
         "--out", str(out), "--device", "cpu"],
        capture_output=True, text=True, env=ENV,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert np.load(out).shape == (5, 1, 28, 28)


def test_resume_under_torchrun_is_exact_with_the_same_process_count(tmp_path: Path) -> None:
    ok(torchrun(2, *TINY, "--epochs", "2", "--out", str(tmp_path / "straight")))
    ok(torchrun(2, *TINY, "--epochs", "1", "--out", str(tmp_path / "split")))
    ok(torchrun(2, *TINY, "--epochs", "2", "--out", str(tmp_path / "split"), "--resume"))
    a = load_checkpoint(tmp_path / "straight" / "ckpt.pt", GAN_FORMAT)["generator"]
    b = load_checkpoint(tmp_path / "split" / "ckpt.pt", GAN_FORMAT)["generator"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_distributed_run_resumes_in_one_process(run2: Path, tmp_path: Path) -> None:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(run2, run)
    r = single(*TINY, "--epochs", "2", "--out", str(run), "--resume")
    assert r.returncode == 0, r.stderr
    assert load_checkpoint(run / "ckpt.pt", GAN_FORMAT)["epoch"] == 2


def test_ranks_see_disjoint_shards_of_one_permutation() -> None:
    from companion.data import ImageSet

    # Image i holds the number i (as a float, which batches pass through unscaled: companion.pixels).
    ids = ImageSet(torch.arange(1000, dtype=torch.float32).view(1000, 1, 1, 1), None, "ids")
    seen = []
    for rank in range(2):
        batches = ids.batches(64, torch.Generator().manual_seed(5), shard=(rank, 2))
        seen.append(torch.cat([b.flatten().round().long() for b in batches]))
    a, b = set(seen[0].tolist()), set(seen[1].tolist())
    assert not a & b and len(a) == len(b) == 7 * 64  # 1000 // 128 = 7 steps each, disjoint
    full = torch.randperm(1000, generator=torch.Generator().manual_seed(5))[: 7 * 128].view(7, 2, 64)
    assert seen[0].tolist() == full[:, 0].flatten().tolist()  # rank r takes every r-th batch of the permutation
    assert seen[1].tolist() == full[:, 1].flatten().tolist()


def _ddp_grad(rank: int, world: int, init: str, x: torch.Tensor, out: str) -> None:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    from companion.distributed import World, teardown

    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    torch.manual_seed(0)
    model = DDP(torch.nn.Linear(4, 1))
    half = x.shape[0] // world
    model(x[rank * half : (rank + 1) * half]).square().mean().backward()
    if rank == 0:
        torch.save(model.module.weight.grad, out)
    # The wrapper goes before the group (companion.distributed.teardown). A bare destroy_process_group
    # with the DDP module still alive aborted a worker with SIGABRT in 6 of 40 runs of this test.
    del model
    teardown(World(rank, world))


def test_ddp_averages_to_the_gradient_of_the_global_batch_mean(tmp_path: Path) -> None:
    """Each rank's loss is a mean over its half batch; DDP's average of the two gradients is the gradient
    of the mean over the whole batch: the effective batch is per-rank batch x ranks."""
    import torch.multiprocessing as mp

    x = torch.randn(8, 4, generator=torch.Generator().manual_seed(1))
    out = str(tmp_path / "g.pt")
    mp.spawn(_ddp_grad, args=(2, f"file://{tmp_path / 'init'}", x, out), nprocs=2, join=True)
    torch.manual_seed(0)
    ref = torch.nn.Linear(4, 1)
    ref(x).square().mean().backward()
    assert torch.allclose(torch.load(out, weights_only=True), ref.weight.grad, atol=1e-6)


# --- the flow and GLO trainers under torchrun --------------------------------------------------------------

FLOW = ("flow", "train")
GLO = ("glo", "train")
# A constant step size: the cosine decay runs over the run's total steps, so a run stopped after epoch 1
# and extended to 2 would take other steps than one planned for 2 (a killed run resumes exactly either way).
FLOW_TINY = ["--dataset", "synthetic", "--depth", "2", "--hidden", "8", "--eval-images", "32", "--device", "cpu",
             "--precision", "fp32", "--warmup", "2", "--schedule", "constant", "--no-progress"]  # fmt: skip
GLO_TINY = ["--dataset", "synthetic", "--n-fixed", "8", "--device", "cpu", "--no-progress"]


def _state(path: Path, fmt: str, key: str) -> dict:
    return load_checkpoint(path, fmt)[key]


@pytest.mark.parametrize("command,tiny,fmt,key", [(FLOW, FLOW_TINY, "companion-flow/1", "flow"),
                                                  (GLO, GLO_TINY, "companion-glo/1", "generator")])  # fmt: skip
def test_flow_and_glo_train_under_torchrun_into_one_folder_and_resume_exactly(
    tmp_path: Path, command, tiny, fmt: str, key: str
) -> None:
    args = [*tiny, "--batch-size", "32", "--train-subset", "256"]
    ok(torchrun(2, *args, "--epochs", "2", "--out", str(tmp_path / "straight"), command=command))
    ok(torchrun(2, *args, "--epochs", "1", "--out", str(tmp_path / "split"), command=command))
    ok(torchrun(2, *args, "--epochs", "2", "--out", str(tmp_path / "split"), "--resume", command=command))
    records = [json.loads(x) for x in (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()]
    assert len([r for r in records if r["type"] == "step"]) == 2 * 256 // (32 * 2)  # one log, rank 0's
    a, b = (_state(tmp_path / r / "ckpt.pt", fmt, key) for r in ("straight", "split"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    if command == GLO:  # every code the same in the stopped-and-resumed run
        assert torch.equal(*(_state(tmp_path / r / "ckpt.pt", fmt, "codes") for r in ("straight", "split")))
    # another number of processes is refused in one line, before anything is written
    before = (tmp_path / "split" / "metrics.jsonl").read_text()
    r = subprocess.run([sys.executable, "-m", "companion", *command, *args, "--epochs", "3", "--resume",
                        "--out", str(tmp_path / "split")], capture_output=True, text=True, env=ENV)  # fmt: skip
    assert r.returncode == 2 and "resume it with as many" in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert (tmp_path / "split" / "metrics.jsonl").read_text() == before


def test_one_two_process_flow_step_is_the_one_process_step_on_the_combined_batch(tmp_path: Path) -> None:
    """The flow has no BatchNorm: 2 ranks x 32 images (their noise, their share of ActNorm's first batch) take
    the step one process takes on the 64 images, to float rounding."""
    base = [*FLOW_TINY, "--train-subset", "64", "--epochs", "1", "--warmup", "0"]  # warm-up's 1st step: lr 0
    ok(torchrun(2, *base, "--batch-size", "32", "--out", str(tmp_path / "two"), command=FLOW))
    r = subprocess.run([sys.executable, "-m", "companion", *FLOW, *base, "--batch-size", "64", "--out",
                        str(tmp_path / "one")], capture_output=True, text=True, env=ENV)  # fmt: skip
    assert r.returncode == 0, r.stderr
    two, one = (_state(tmp_path / r / "ckpt.pt", "companion-flow/1", "flow") for r in ("two", "one"))
    assert set(two) == set(one)
    worst = max(float((two[k].float() - one[k].float()).abs().max()) for k in one)
    assert worst < 1e-5, worst
    # and the step did move the weights (two untrained flows would agree as well)
    from companion.density import _build, make_flow_config

    cfg = make_flow_config(None, dataset="synthetic", depth=2, hidden=8)
    torch.manual_seed(cfg.seed)
    start = _build(cfg, 1, 28)[0].state_dict()
    assert max(float((one[k].float() - start[k].float()).abs().max()) for k in start if "weight" in k) > 1e-4


def _glo_ddp_step(rank: int, world: int, init: str, x: torch.Tensor, out: str) -> None:
    """One GLO step of a rank on its half of 8 images (its codes synchronised), as train_glo takes it."""
    import torch.distributed as dist

    from companion.distributed import World, teardown, wrap
    from companion.glo import glo_step, sync_rows
    from companion.models import ArchSpec, build_generator

    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    torch.manual_seed(0)
    G = build_generator(ArchSpec("report28", 1, 100))
    codes = torch.nn.Embedding(8, 100, sparse=True)
    with torch.no_grad():
        codes.weight.copy_(torch.randn(8, 100, generator=torch.Generator().manual_seed(3)))
    opt_g = torch.optim.Adam(G.parameters(), 1e-3, betas=(0.5, 0.999))
    opt_z = torch.optim.SparseAdam(codes.parameters(), 1e-2)
    model = wrap(G, World(rank, world), torch.device("cpu"))
    idx = torch.arange(rank * 4, rank * 4 + 4)
    glo_step(model, codes, opt_g, opt_z, x[idx], idx, 3, world)
    sync_rows(codes, opt_z, idx, world)
    torch.save({"G": G.state_dict(), "codes": codes.weight.detach(), "m": opt_z.state[codes.weight]["exp_avg"]},
               out.replace(".pt", f"{rank}.pt"))  # fmt: skip
    del model
    teardown(World(rank, world))


def test_one_two_process_glo_step_is_the_mean_of_the_two_shares(tmp_path: Path) -> None:
    """G's step is the step on the mean of the two shares' losses (each share normalised by its own BatchNorm
    on the CPU, as the GAN's runs are); every code moves as one process would move it, and both ranks end with
    the same table and the same Adam moments."""
    import torch.multiprocessing as mp

    from companion.glo import glo_step
    from companion.models import ArchSpec, build_generator

    x = torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    out = str(tmp_path / "g.pt")
    mp.spawn(_glo_ddp_step, args=(2, f"file://{tmp_path / 'init'}", x, out), nprocs=2, join=True)
    ranks = [torch.load(out.replace(".pt", f"{r}.pt"), weights_only=True) for r in range(2)]
    assert torch.equal(ranks[0]["codes"], ranks[1]["codes"]) and torch.equal(ranks[0]["m"], ranks[1]["m"])

    class Halves(torch.nn.Module):  # one process: each half through G on its own (its own BatchNorm statistics)
        def __init__(self, g):
            super().__init__()
            self.g = g

        def forward(self, z):
            return torch.cat([self.g(z[:4]), self.g(z[4:])])

    torch.manual_seed(0)
    G = build_generator(ArchSpec("report28", 1, 100))
    codes = torch.nn.Embedding(8, 100, sparse=True)
    with torch.no_grad():
        codes.weight.copy_(torch.randn(8, 100, generator=torch.Generator().manual_seed(3)))
    opt_g = torch.optim.Adam(G.parameters(), 1e-3, betas=(0.5, 0.999))
    opt_z = torch.optim.SparseAdam(codes.parameters(), 1e-2)
    glo_step(Halves(G), codes, opt_g, opt_z, x, torch.arange(8), 3)
    ref = G.state_dict()
    for k, v in ranks[0]["G"].items():
        if v.is_floating_point() and "running" not in k:
            assert torch.allclose(v, ref[k], atol=1e-6), k
    assert torch.allclose(ranks[0]["codes"], codes.weight.detach(), atol=1e-6)

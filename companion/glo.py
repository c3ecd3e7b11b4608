r"""GLO, Generative Latent Optimization (Bojanowski et al., 2018): the report's generator without a discriminator.

Every training image $x_i$ gets its own code $z_i$, learned jointly with the generator by
reconstruction:

$$
\min_{\theta} \frac1N \sum_{i=1}^N \min_{z_i \in S} \ell\big(G_\theta(z_i), x_i\big),
\qquad \ell(x', x) = \lVert x' - x \rVert_1 / D + \mathrm{Lap}_1(x', x),
$$

with the codes kept on a sphere $S$ and $\mathrm{Lap}_1$ the L1 distance between Laplacian
pyramids (`lap1`). Recipe (the GLO paper's, with the departures said): codes initialised from the
images' top principal components (PCA; the paper found it better than random codes: they start
with the data's coarse structure, and images that look alike start close), projected after every
step onto the sphere of radius $\sqrt d$ (the paper uses the unit sphere; $\sqrt d$ is where the
GAN's $z \sim \mathcal N(0, I_d)$ lives, so both generators can be inverted by chapter 2's solver
unchanged, and only the first layer's scale differs); Adam on G and sparse Adam on the codes, each
with its own learning rate (the paper used SGD); loss L1 + Lap1 (the paper: Lap1 alone; the plain
L1 term weighs the finest detail once more).

**Several processes** (``torchrun --nproc-per-node N -m companion glo train ...``): G is wrapped in
DistributedDataParallel (its gradients averaged over the ranks, as for the GAN: `companion.distributed`),
and every rank holds the whole table of codes. A code belongs to the rank whose share of the step's
global batch holds its image: only that rank computes its gradient (scaled by 1/N, so that it is the
gradient of the mean over the global batch) and takes its sparse Adam step. After every step the ranks
exchange the rows they changed, the codes and their two Adam moments (`sync_rows`), so all ranks'
tables and optimiser states stay identical, and rank 0's table, saved in the checkpoint, is the run's.
An image falls to another rank in the next epoch (a new permutation) and finds its code up to date.
On the CPU (gloo) each rank's BatchNorm normalises its own share, as in the GAN's distributed runs.

**Noise on the codes** (``code_noise``, a departure from the paper). Trained on its codes alone, G is
sharp there and arbitrary in between: with no noise a Gaussian fitted to the codes draws scribbles (its
samples lie about 9.4 from the nearest code on the sphere of radius 10, where codes are 5.6 apart), and
IMLE's mapper sends a few percent of its noise to points that decode to empty images (171 of 5,000 in
a 20,000-digit run). Adding $\sigma\,\varepsilon$ to each code as G sees it in training (the code itself
is learned as before) makes G decode a neighbourhood of every code, the decoder regularisation that
Ghosh et al. (2020, RAE) show ex-post density estimates need. Chosen on training digits the runs did not
see (FID against digits 50,000-59,999 of 20,000-digit, 10-epoch runs; the book's test digits never):
sigma 0, 0.3, 0.5, 0.7 gave IMLE FID 49.4 (5 blank), 44.0, 42.9, 46.4 (0 blank), the Gaussian 578, 455,
388, 342 and 7, 9, 9, 9 classes, at the price of reconstruction PSNR 28.4, 26.6, 25.1, 23.9 dB.

GLO has no sampler: nothing says which codes are images. `companion.latent_samplers` fits one
afterwards (one Gaussian, a mixture of Gaussians, or GLANN's IMLE mapper), and none is a density over images.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from companion.checkpoint import GLO_FORMAT, load_checkpoint, load_state, save_atomic
from companion.distributed import World, sync_rows
from companion.options import check_choice, check_finite_positive, check_nonnegative, check_positive, check_seed

__all__ = [
    "GLO_KEYS",
    "GLO_PRESETS",
    "GLOConfig",
    "glo_step",
    "lap1",
    "laplacian_pyramid",
    "make_glo_config",
    "pca_codes",
    "project_to_sphere",
    "run_glo_training",
    "sync_rows",
    "train_glo",
]

GLO_KEYS = ("meta", "config", "epoch", "generator", "codes", "opt_g", "opt_z", "rng")


# --8<-- [start:config]
@dataclass(frozen=True)
class GLOConfig:
    """Everything that defines a GLO run (defaults: the book's, on the report's generator)."""

    dataset: str = "mnist"  # mnist | fashion-mnist | synthetic
    epochs: int = 50
    batch_size: int = 128
    lr_g: float = 1e-3  # Adam on the generator
    lr_z: float = 1e-2  # sparse Adam on the codes of the batch
    latent_dim: int = 100  # the report's d
    init: str = "pca"  # pca | random
    levels: int = 3  # Laplacian pyramid levels (plus the low-pass residual)
    code_noise: float = 0.5  # std of noise added to every code coordinate before G (training only): see the docstring
    train_subset: int = 0  # the first N training images only (0: all)
    n_fixed: int = 64  # training images whose reconstruction is kept after every epoch
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | mps
    # --8<-- [end:config]

    def __post_init__(self) -> None:
        from companion.device import DEVICES

        check_choice("dataset", self.dataset, ("mnist", "fashion-mnist", "synthetic"))
        check_choice("init", self.init, ("pca", "random"))
        check_choice("device", self.device, DEVICES)
        check_positive(self, "epochs", "batch_size", "latent_dim", "levels", "n_fixed")
        check_finite_positive(self, "lr_g", "lr_z")
        check_nonnegative(self, "code_noise")
        check_nonnegative(self, "train_subset")
        check_seed(self)


GLO_PRESETS: dict[str, dict[str, Any]] = {
    "quick": {"epochs": 5, "train_subset": 20000},  # a few CPU minutes
    "book": {},  # the book's run: 50 epochs over all 60,000 digits
}


def make_glo_config(preset: str | None = None, **overrides: Any) -> GLOConfig:
    """A validated `GLOConfig` from a preset and ``--key value`` overrides (None: not given)."""
    from companion.options import parse_value

    values: dict[str, Any] = dict(GLO_PRESETS[preset]) if preset is not None else {}
    if preset is not None:
        check_choice("preset", preset, GLO_PRESETS)
    for key, raw in overrides.items():
        if raw is not None:
            values[key] = parse_value(key, raw, GLOConfig)
    return dataclasses.replace(GLOConfig(), **values)


# --8<-- [start:sphere]
def project_to_sphere(z: Tensor) -> Tensor:
    r"""Each row scaled to norm $\sqrt d$: $z \mapsto \sqrt d \, z / \lVert z \rVert$ (a zero row stays 0).

    Shapes: (N, d) -> (N, d).
    """
    norm = z.norm(dim=1, keepdim=True)
    return z * (math.sqrt(z.shape[1]) / norm.clamp_min(1e-12))


# --8<-- [end:sphere]


def _blur(x: Tensor) -> Tensor:
    """The pyramid's low-pass: the binomial 5x5 kernel [1 4 6 4 1]^T [1 4 6 4 1] / 256, edges replicated."""
    k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=x.dtype, device=x.device)
    kernel = (k[:, None] * k[None, :] / 256).expand(x.shape[1], 1, 5, 5)
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="replicate"), kernel, groups=x.shape[1])


# --8<-- [start:pyramid]
def laplacian_pyramid(x: Tensor, levels: int) -> list[Tensor]:
    r"""The Laplacian pyramid of images (B, C, H, W): ``levels`` band-pass images and the low-pass residual.

    $G_0 = x$; for $j < J$: $L_j = G_j - \mathrm{blur}(G_j)$, $G_{j+1} = \mathrm{avgpool}_2(\mathrm{blur}(G_j))$;
    the last entry is $G_J$. A 28x28 image with J = 3 gives bands of 28, 14 and 7 pixels and a 3x3 residual.
    """
    out = []
    g = x
    for _ in range(levels):
        low = _blur(g)
        out.append(g - low)
        g = F.avg_pool2d(low, 2)
    out.append(g)
    return out


def lap1(x: Tensor, y: Tensor, levels: int = 3) -> Tensor:
    r"""$\mathrm{Lap}_1(x, y) = \sum_j 2^{2j} \lVert L_j(x) - L_j(y) \rVert_1 / D$ per image (bands and residual).

    Level j has $D / 4^j$ pixels, so the weight $2^{2j}$ makes each level count as much as the finest
    (Bojanowski et al., 2018): the term is the sum over levels of the mean absolute difference.

    Shapes: x, y (B, C, H, W) -> (B,).
    """
    pairs = zip(laplacian_pyramid(x, levels), laplacian_pyramid(y, levels))
    return sum((a - b).abs().flatten(1).mean(1) for a, b in pairs)


# --8<-- [end:pyramid]


def pca_codes(images: Tensor, d: int, seed: int = 0) -> Tensor:
    """Initial codes: each image's coordinates on the top ``d`` principal components, put on the sphere. (N, d)."""
    x = images.flatten(1).float() / 255
    x = x - x.mean(0)
    # a randomised SVD (torch.svd_lowrank) of the centred images: the top d directions in seconds
    torch.manual_seed(seed)
    _, _, v = torch.svd_lowrank(x, q=d + 10, niter=4)
    return project_to_sphere(x @ v[:, :d])


# --8<-- [start:step]
def glo_step(
    G: nn.Module,
    codes: nn.Embedding,
    opt_g: torch.optim.Optimizer,
    opt_z: torch.optim.Optimizer,
    x: Tensor,
    idx: Tensor,
    levels: int = 3,
    world: int = 1,
    noise: float = 0.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """One GLO step on a batch: images x (B, C, H, W) in [0, 1] and their indices idx (B,) into ``codes``.

    G and the batch's codes take one step on L1 + Lap1; the codes' optimiser is sparse (only the
    batch's rows and their moments move), and the batch's codes go back onto the sphere. In a run of
    ``world`` processes the codes' gradient is divided by ``world`` (G's is averaged by DDP), so that
    both are gradients of the mean over the global batch; the caller then exchanges the rows (`sync_rows`).

    Returns:
        (loss, l1, lap1) of the batch, on the device, detached.
    """
    z = codes(idx)
    if noise > 0:  # G sees a neighbourhood of each code, so that codes near the learned ones decode to digits too
        z = z + noise * torch.randn(z.shape, generator=generator).to(z.device)
    rec = G(z)
    l1 = (rec - x).abs().flatten(1).mean(1).mean()
    lap = lap1(rec, x, levels).mean()
    loss = l1 + lap
    opt_g.zero_grad(set_to_none=True)
    opt_z.zero_grad(set_to_none=True)
    loss.backward()
    if world > 1:
        codes.weight.grad = codes.weight.grad / world
    opt_g.step()
    opt_z.step()
    with torch.no_grad():  # back onto the sphere: the batch's codes only (the others did not move)
        codes.weight[idx] = project_to_sphere(codes.weight[idx])
    return torch.stack([loss.detach(), l1.detach(), lap.detach()])


# --8<-- [end:step]


def train_glo(
    cfg: GLOConfig,
    images: Tensor,
    out: Path,
    *,
    resume: bool = False,
    progress: bool = True,
    world: World | None = None,
) -> dict[str, Any]:
    """Train G and one code per image on the book's training scaffold; write the run folder (prepared by the caller).

    Args:
        cfg: Settings.
        images: (N, C, 28, 28) uint8 training images (CPU).
        out: Run folder: ``metrics.jsonl``, ``ckpt.pt`` (G, the codes, both optimisers, RNG), ``fixed/``
            (the first ``n_fixed`` reconstructions after every epoch), ``summary.json``.
        resume: Continue from ``out/ckpt.pt`` exactly.
        world: This process's place in a torchrun (`companion.distributed.World`); None: alone.

    Returns:
        The summary written to ``summary.json`` (an empty dict on ranks other than 0).
    """
    import numpy as np

    from companion.artifacts import write_json
    from companion.data import ImageSet
    from companion.device import resolve_device
    from companion.distributed import all_mean, wrap
    from companion.fsutil import atomic_write
    from companion.loop import Guard, run_epochs, steps_per_epoch
    from companion.models import ArchSpec, build_generator
    from companion.pixels import to_uint8
    from companion.runlog import RunLog

    world = world or World()
    device = resolve_device(cfg.device)
    if world.distributed and device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    n = images.shape[0]
    steps = steps_per_epoch(n // world.size, cfg.batch_size)
    spec = ArchSpec("report28", images.shape[1], cfg.latent_dim)
    torch.manual_seed(cfg.seed)
    # channels-last memory, as the GAN trainer (not on Apple's MPS); for GLO's float32 step it measured no faster
    # than the default layout (0.94-0.97x, benchmarks/train_speed.py --models glo), and no slower
    fmt = torch.channels_last if device.type != "mps" else torch.contiguous_format
    G = build_generator(spec).to(device, memory_format=fmt)
    codes = nn.Embedding(n, cfg.latent_dim, sparse=True).to(device)
    with torch.no_grad():
        init = pca_codes(images, cfg.latent_dim, cfg.seed) if cfg.init == "pca" else project_to_sphere(
            torch.randn(n, cfg.latent_dim, generator=torch.Generator().manual_seed(cfg.seed)))  # fmt: skip
        codes.weight.copy_(init)
    opt_g = torch.optim.Adam(G.parameters(), cfg.lr_g, betas=(0.5, 0.999))
    opt_z = torch.optim.SparseAdam(codes.parameters(), cfg.lr_z)
    data_rng = torch.Generator().manual_seed(cfg.seed)
    ckpt, log = out / "ckpt.pt", RunLog(out / "metrics.jsonl")
    state = {"epoch": 0, "step": 0}
    meta = {"arch": spec.to_dict(), "dataset": cfg.dataset, "kind": "glo", "world_size": world.size}
    if resume:
        ck = load_checkpoint(ckpt, GLO_FORMAT, keys=GLO_KEYS)
        saved_world = int(ck["meta"].get("world_size", 1))
        if saved_world != world.size:
            from companion.errors import ConfigError

            raise ConfigError(
                f"{out} was trained with {saved_world} process(es): resume it with as many (torchrun "
                f"--nproc-per-node {saved_world}), not {world.size}; the global batch would differ"
            )
        load_state(G, ck["generator"], ckpt, "generator")
        with torch.no_grad():
            codes.weight.copy_(ck["codes"])
        opt_g.load_state_dict(ck["opt_g"])
        opt_z.load_state_dict(ck["opt_z"])
        data_rng.set_state(ck["rng"]["data"])
        torch.set_rng_state(ck["rng"]["torch"])
        state["epoch"] = int(ck["epoch"])
        state["step"] = state["epoch"] * steps
        if world.main:
            log.trim(state["epoch"])
    # The "labels" are the images' indices: a batch says whose codes to use.
    data = ImageSet(images.to(device), torch.arange(n, device=device), cfg.dataset)
    fixed_idx = torch.arange(min(cfg.n_fixed, n), device=device)
    model = wrap(G, world, device)

    def step(batch: tuple[Tensor, Tensor], row: Tensor) -> None:
        # --code-noise: drawn from (seed, step, rank) alone, so a resumed run (on any rank) draws the same noise
        state["step"] += 1
        noise_rng = torch.Generator().manual_seed((cfg.seed * 1_000_003 + state["step"]) * 64 + world.rank)
        row.copy_(glo_step(model, codes, opt_g, opt_z, *batch, cfg.levels, world.size, cfg.code_noise, noise_rng))
        if world.distributed:
            sync_rows(codes, opt_z, batch[1], world.size)

    def save(epoch: int) -> None:
        state["epoch"] = epoch
        if not world.main:
            return
        save_atomic(
            {
                "format": GLO_FORMAT, "meta": meta, "config": dataclasses.asdict(cfg), "epoch": epoch,
                "generator": G.state_dict(), "codes": codes.weight.detach().cpu(),
                "opt_g": opt_g.state_dict(), "opt_z": opt_z.state_dict(),
                "rng": {"data": data_rng.get_state(), "torch": torch.get_rng_state()},
            },
            ckpt,
        )  # fmt: skip

    def end_epoch(epoch: int, rows: Tensor) -> dict[str, Any]:
        if not world.main:
            return {}
        G.eval()
        with torch.no_grad():
            rec = G(codes(fixed_idx))
            psnr = -10 * torch.log10((rec - data.images[fixed_idx].float() / 255).square().flatten(1).mean(1))
        G.train()
        arr = to_uint8(rec).cpu().numpy()
        atomic_write(out / "fixed" / f"epoch_{epoch:03d}.npy", lambda f: np.save(f, arr))
        return {"recon_psnr": float(psnr.mean())}

    G.train()
    run_epochs(
        fields=("loss", "l1", "lap1"), step=step, steps=steps, start=state["epoch"], epochs=cfg.epochs,
        batches=lambda: data.batches(cfg.batch_size, data_rng, labels=True, shard=(world.rank, world.size)),
        batch_size=cfg.batch_size * world.size, device=device, guard=Guard(watch=("loss",)),
        log=log if world.main else None, save=save, checkpoint=ckpt, end_epoch=end_epoch,
        progress=progress and world.main, desc="glo", log_every=50, verbose=world.main,
        reduce=(lambda t: all_mean(t, world)) if world.distributed else None,
    )  # fmt: skip
    if not world.main:
        return {}
    records = log.read("epoch")
    summary = {
        "epochs": state["epoch"],
        "final": records[-1] if records else {},
        "train_seconds": sum(r["seconds"] for r in records),
        "parameters": sum(p.numel() for p in G.parameters()),
        "codes": n * cfg.latent_dim,
        **meta,
    }
    write_json(summary, out / "summary.json")
    return summary


def run_glo_training(
    cfg: GLOConfig,
    out: str | Path,
    *,
    data_dir: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    explicit: set[str] | None = None,
    progress: bool = True,
    command: str = "",
) -> dict[str, Any]:
    """Train GLO as ``cfg`` says into the run folder ``out`` (``companion glo train`` and the chapter).

    Everything that can be refused (options, data, the folder, resuming a GAN's run folder or with other
    settings) is refused before anything is written; on resume only ``epochs`` and ``device`` may change.
    """
    import json

    from companion.artifacts import render_run, write_json
    from companion.data import load_dataset
    from companion.errors import ConfigError
    from companion.loop import steps_per_epoch
    from companion.rundir import RUN_FORMAT, prepare_run_dir

    out = Path(out)
    prepare_run_dir(out, resume=resume, overwrite=overwrite, dry=True)
    if resume:
        saved = json.loads((out / "config.json").read_text())
        if saved.get("kind") != "glo":
            raise ConfigError(
                f"{out} holds a {saved.get('kind', 'gan')} run, not a GLO run: resume it with its own command"
            )
        old = GLOConfig(**saved["config"])
        for key in (explicit or set()) - {"epochs", "device"}:
            if getattr(old, key) != getattr(cfg, key):
                raise ConfigError(f"--resume continues the saved run, whose {key} is {getattr(old, key)!r}")
        cfg = dataclasses.replace(old, **{k: getattr(cfg, k) for k in (explicit or set()) & {"epochs", "device"}})
    from companion.device import resolve_device
    from companion.distributed import setup, teardown

    images = load_dataset(cfg.dataset, "train", data_dir, progress=progress).subset(cfg.train_subset).images
    world = setup(resolve_device(cfg.device).type)  # one process, or one of torchrun's
    try:
        steps_per_epoch(images.shape[0] // world.size, cfg.batch_size)  # refuse before the folder is touched
        if world.main:
            prepare_run_dir(out, resume=resume, overwrite=overwrite)
            if not resume:
                write_json(
                    {"format": RUN_FORMAT, "kind": "glo", "config": dataclasses.asdict(cfg), "command": command,
                     "world_size": world.size},
                    out / "config.json",
                )  # fmt: skip
        summary = train_glo(cfg, images, out, resume=resume, progress=progress, world=world)
    finally:
        teardown(world)
    if world.main:
        render_run(out)
    return summary

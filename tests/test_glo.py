"""GLO (chapter 5): the Laplacian pyramid loss by hand, sparse code steps on the sphere, exact resume, the samplers."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from companion.cli import main
from companion.glo import lap1, laplacian_pyramid, project_to_sphere

# --- the Laplacian pyramid, built by hand ----------------------------------------------------------


def _blur_np(img: np.ndarray) -> np.ndarray:
    """5x5 binomial blur of one (H, W) image with replicated edges, as explicit sums."""
    k = np.array([1, 4, 6, 4, 1], dtype=np.float64) / 16
    pad = np.pad(img, 2, mode="edge")
    h, w = img.shape
    out = np.zeros_like(img)
    for i in range(h):
        for j in range(w):
            out[i, j] = sum(k[a] * k[b] * pad[i + a, j + b] for a in range(5) for b in range(5))
    return out


def _pyramid_np(img: np.ndarray, levels: int) -> list[np.ndarray]:
    out, g = [], img
    for _ in range(levels):
        low = _blur_np(g)
        out.append(g - low)
        h, w = low.shape[0] // 2 * 2, low.shape[1] // 2 * 2
        g = low[:h, :w].reshape(h // 2, 2, w // 2, 2).mean((1, 3))
    return [*out, g]


@pytest.mark.parametrize("side,levels", [(8, 2), (12, 3), (28, 3)])
def test_pyramid_and_lap1_against_a_hand_built_pyramid(side: int, levels: int) -> None:
    g = torch.Generator().manual_seed(side)
    x = torch.rand(2, 1, side, side, generator=g, dtype=torch.float64)
    y = torch.rand(2, 1, side, side, generator=g, dtype=torch.float64)
    for b in range(2):
        ours = laplacian_pyramid(x[b : b + 1], levels)
        hand = _pyramid_np(x[b, 0].numpy(), levels)
        assert len(ours) == levels + 1
        for a, h in zip(ours, hand):
            assert a.shape[-2:] == h.shape and np.allclose(a[0, 0].numpy(), h, atol=1e-12)
    pairs = [zip(_pyramid_np(x[i, 0].numpy(), levels), _pyramid_np(y[i, 0].numpy(), levels)) for i in range(2)]
    expected = [sum(np.abs(a - b).mean() for a, b in pair) for pair in pairs]
    assert lap1(x, y, levels).tolist() == pytest.approx(expected, abs=1e-12)


def test_the_pyramid_is_lossless() -> None:
    """Collapsing the pyramid (upsample, add the bands back) needs every level: the residual and bands hold x."""
    x = torch.rand(1, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    bands = laplacian_pyramid(x, 1)
    assert torch.allclose(bands[0] + torch.nn.functional.conv2d(
        torch.nn.functional.pad(x, (2, 2, 2, 2), mode="replicate"),
        (torch.tensor([1.0, 4, 6, 4, 1], dtype=torch.float64)[:, None] * torch.tensor([1.0, 4, 6, 4, 1],
         dtype=torch.float64)[None, :] / 256)[None, None]), x)  # fmt: skip
    assert lap1(x, x).item() == 0.0


# --- codes on the sphere, sparse steps, resume ------------------------------------------------------


def test_projection_onto_the_sphere() -> None:
    z = torch.randn(5, 100, generator=torch.Generator().manual_seed(0)) * torch.tensor([[0.1], [1], [3], [10], [0]])
    p = project_to_sphere(z)
    assert p[:4].norm(dim=1).tolist() == pytest.approx([10.0] * 4, rel=1e-6)  # sqrt(100)
    assert torch.allclose(p[:4] / p[:4].norm(dim=1, keepdim=True), z[:4] / z[:4].norm(dim=1, keepdim=True))
    assert torch.equal(p[4], torch.zeros(100))  # a zero row stays zero, no NaN


def test_a_step_moves_only_the_batch_codes_and_keeps_them_on_the_sphere() -> None:
    from companion.glo import glo_step
    from companion.models import ArchSpec, build_generator

    torch.manual_seed(0)
    G = build_generator(ArchSpec("report28", 1, 16))
    codes = nn.Embedding(10, 16, sparse=True)
    with torch.no_grad():
        codes.weight.copy_(project_to_sphere(torch.randn(10, 16)))
    opt_g = torch.optim.Adam(G.parameters(), 1e-3)
    opt_z = torch.optim.SparseAdam(codes.parameters(), 1e-1)
    x = torch.rand(10, 1, 28, 28)
    for batch in (torch.tensor([0, 1, 2]), torch.tensor([3, 4, 5]), torch.tensor([0, 6])):
        before = codes.weight.detach().clone()
        glo_step(G, codes, opt_g, opt_z, x[batch], batch)
        after = codes.weight.detach()
        moved = (after != before).any(1)
        assert moved.nonzero().flatten().tolist() == batch.tolist()  # the others did not move (no momentum)
        assert after.norm(dim=1).tolist() == pytest.approx([4.0] * 10, rel=1e-5)  # sqrt(16)


GLO_TINY = ["--dataset", "synthetic", "--batch-size", "64", "--n-fixed", "8", "--device", "cpu", "--no-progress"]


@pytest.fixture(scope="module")
def glo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("glo") / "run"
    assert main(["glo", "train", "--out", str(out), "--epochs", "2", *GLO_TINY]) == 0
    return out


def test_glo_resume_is_exact_with_the_codes(glo_run: Path, tmp_path: Path) -> None:
    from companion.checkpoint import GLO_FORMAT, load_checkpoint

    split = tmp_path / "split"
    assert main(["glo", "train", "--out", str(split), "--epochs", "1", *GLO_TINY]) == 0
    assert main(["glo", "train", "--out", str(split), "--epochs", "2", "--resume", "--no-progress"]) == 0
    a, b = load_checkpoint(glo_run / "ckpt.pt", GLO_FORMAT), load_checkpoint(split / "ckpt.pt", GLO_FORMAT)
    assert torch.equal(a["codes"], b["codes"])
    assert all(torch.equal(a["generator"][k], b["generator"][k]) for k in a["generator"])
    assert a["codes"].norm(dim=1).sub(10).abs().max() < 1e-4  # every code on the sphere of radius sqrt(100)


def test_glo_learns(glo_run: Path) -> None:
    import json

    recs = [json.loads(line) for line in (glo_run / "metrics.jsonl").read_text().splitlines()]
    ep = [r for r in recs if r["type"] == "epoch"]
    assert ep[1]["loss"] < ep[0]["loss"] and ep[1]["recon_psnr"] > ep[0]["recon_psnr"]


def _one_line(rc: int, err: str, match: str) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2 and len(lines) == 1 and "Traceback" not in err and match in lines[0], err


def test_a_glo_run_is_not_resumed_as_a_gan_and_the_reverse(glo_run: Path, tmp_path: Path, capsys) -> None:
    from companion.config import make_config
    from companion.experiment import run_training

    before = (glo_run / "ckpt.pt").read_bytes()
    rc = main(["train", "--out", str(glo_run), "--resume", "--dataset", "synthetic"])
    _one_line(rc, capsys.readouterr().err, "is not a companion-gan/1 checkpoint (found format 'companion-glo/1')")
    assert (glo_run / "ckpt.pt").read_bytes() == before
    cfg = make_config(None, dataset="synthetic", epochs=1, batch_size=64, fid_samples=0, device="cpu", n_fixed=8)
    run_training(cfg, tmp_path / "gan", progress=False, render=False)
    rc = main(["glo", "train", "--out", str(tmp_path / "gan"), "--resume"])
    _one_line(rc, capsys.readouterr().err, "holds a gan run, not a GLO run")


@pytest.mark.parametrize("sampler", ["gaussian", "gmm", "imle", None])
def test_sample_of_a_glo_checkpoint_draws_from_its_stored_sampler(
    glo_run: Path, tmp_path: Path, capsys, sampler: str | None
) -> None:
    """``companion sample`` on a GLO run: G of the codes its chosen sampler draws (by value); without --sampler
    the one the run stored as its default. The Gaussian is the one fitted to the run's codes."""
    from companion.checkpoint import GLO_FORMAT, load_checkpoint
    from companion.experiment import load_generator
    from companion.latent_samplers import GaussianCodes, load_samplers

    out = tmp_path / "s.npy"
    extra = ["--sampler", sampler] if sampler else []
    assert main(["sample", "--checkpoint", str(glo_run / "ckpt.pt"), "--n", "9", "--seed", "4", "--out", str(out),
                 "--device", "cpu", *extra]) == 0  # fmt: skip
    ck = load_checkpoint(glo_run / "ckpt.pt", GLO_FORMAT)
    chosen = sampler or ck["samplers"]["default"]
    assert f"(sampler {chosen})" in capsys.readouterr().out
    if chosen == "gaussian":  # stored, and equal to a fit of the run's codes
        fit = GaussianCodes.fit(ck["codes"])
        assert torch.allclose(ck["samplers"]["gaussian"]["cov"], fit.cov) and torch.equal(
            ck["samplers"]["gaussian"]["mean"], fit.mean
        )
    G, _, _ = load_generator(glo_run / "ckpt.pt")
    z = load_samplers(ck)[chosen](9, torch.Generator().manual_seed(4))
    with torch.no_grad():
        expected = (G(z).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    assert np.array_equal(np.load(out), expected)


def test_a_gan_refuses_a_glo_sampler(tmp_path: Path, capsys) -> None:
    from companion.config import make_config
    from companion.experiment import run_training

    cfg = make_config(None, dataset="synthetic", epochs=1, batch_size=64, fid_samples=0, device="cpu", n_fixed=8)
    run_training(cfg, tmp_path / "gan", progress=False, render=False)
    rc = main(["sample", "--checkpoint", str(tmp_path / "gan" / "ckpt.pt"), "--sampler", "imle", "--out",
               str(tmp_path / "s.npy")])  # fmt: skip
    _one_line(rc, capsys.readouterr().err, "is for a GLO model")


def test_restore_accepts_a_glo_generator(glo_run: Path, tmp_path: Path, capsys) -> None:
    from companion.data import make_synthetic
    from companion.experiment import load_generator
    from companion.inversion import InversionConfig
    from companion.restoration import cli_operator, restore

    x = make_synthetic(3, seed=5).images
    np.save(tmp_path / "x.npy", x.numpy())
    args = ["--steps", "10", "--restarts", "2", "--seed", "0", "--device", "cpu"]
    assert main(["restore", "--generator", str(glo_run / "ckpt.pt"), "--task", "denoise", "--clean",
                 str(tmp_path / "x.npy"), "--out", str(tmp_path / "r.npy"), *args]) == 0  # fmt: skip
    G, _, _ = load_generator(glo_run / "ckpt.pt")
    op = cli_operator("denoise", 3, (1, 28, 28), sigma=0.3, mask="box14", factor=2, m=100)
    res = restore(G, op.degrade(x.float() / 255, seed=0), op, InversionConfig(steps=10, restarts=2, seed=0))
    assert np.array_equal(np.load(tmp_path / "r.npy"), (res.images.clamp(0, 1) * 255).round().to(torch.uint8).numpy())


# --- the samplers ------------------------------------------------------------------------------------


def test_gaussian_fit_and_density_against_numpy_and_scipy() -> None:
    from scipy.stats import multivariate_normal

    from companion.latent_samplers import GaussianCodes

    z = torch.randn(500, 6, generator=torch.Generator().manual_seed(0)) @ torch.randn(6, 6) + 3
    g = GaussianCodes.fit(z)
    assert np.allclose(g.mean.numpy(), z.double().numpy().mean(0), atol=1e-12)
    assert np.allclose(g.cov.numpy(), np.cov(z.double().numpy(), rowvar=False), atol=1e-10)
    ref = multivariate_normal(g.mean.numpy(), g.cov.numpy()).logpdf(z[:7].double().numpy())
    assert np.allclose(g.log_density(z[:7]).numpy(), ref, atol=1e-8)
    s = g.sample(4, torch.Generator().manual_seed(1))
    assert s.shape == (4, 6) and s.norm(dim=1).tolist() == pytest.approx([math.sqrt(6)] * 4, rel=1e-5)


@pytest.mark.parametrize(("seed", "block"), [(0, 2048), (1, 7), (2, 16), (3, 1)])
def test_imle_nearest_neighbours_against_brute_force(seed: int, block: int) -> None:
    """In blocks of queries and candidates (7 and 16 do not divide 20 or 50; 1 is one pair at a time), the nearest
    candidate found anywhere, later blocks included, as a Python loop over all pairs finds it."""
    from companion.latent_samplers import nearest_neighbours

    g = torch.Generator().manual_seed(seed)
    q, c = torch.randn(20, 5, generator=g), torch.randn(50, 5, generator=g)
    brute = [min(range(50), key=lambda j, i=i: float(((q[i] - c[j]) ** 2).sum())) for i in range(20)]
    assert nearest_neighbours(q, c, block=block).tolist() == brute
    assert nearest_neighbours(q[:0], c, block=block).tolist() == []


def _clusters(sizes: tuple[int, ...], d: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Points around len(sizes) far-apart centres in d dimensions, and each point's cluster."""
    g = torch.Generator().manual_seed(seed)
    centres = 20 * torch.eye(d)[: len(sizes)]
    labels = torch.cat([torch.full((n,), j) for j, n in enumerate(sizes)])
    spread = torch.randn(d, d, generator=g) / 2
    return centres[labels] + torch.randn(len(labels), d, generator=g, dtype=torch.float64).float() @ spread, labels


def test_kmeans_finds_separated_clusters_and_is_a_fixed_point() -> None:
    from companion.latent_samplers import kmeans

    x, labels = _clusters((300, 200, 100), 4)
    centres, assign = kmeans(x, 3, seed=0)
    # the same partition as the truth (up to the clusters' order), every point at its nearest centre,
    # and every centre the mean of its points: a fixed point of Lloyd's iteration
    assert len({(int(a), int(b)) for a, b in zip(assign, labels)}) == 3
    assert torch.equal(assign, torch.cdist(x.double(), centres).argmin(1))
    for j in range(3):
        assert torch.allclose(centres[j], x.double()[assign == j].mean(0), atol=1e-12)


def test_mixture_fit_and_density_against_numpy_and_scipy() -> None:
    """Weights n_j / N, means, Sigma_j = (S_j + d Sigma) / (n_j - 1 + d) by hand; log p(z) = logsumexp against scipy."""
    from scipy.special import logsumexp
    from scipy.stats import multivariate_normal

    from companion.latent_samplers import MixtureCodes, MixtureConfig

    d = 4
    x, _ = _clusters((300, 200, 100), d)
    m = MixtureCodes.fit(x, MixtureConfig(components=3))
    xs = x.double().numpy()
    glob = np.cov(xs, rowvar=False)
    order = np.argsort(-m.weights.numpy())  # the clusters by size: 300, 200, 100
    assert np.allclose(m.weights.numpy()[order], [0.5, 1 / 3, 1 / 6])
    from companion.latent_samplers import kmeans

    _, assign = kmeans(x, 3)
    logs = []
    for j in range(3):
        pts = xs[assign.numpy() == j]
        k = int(np.argmin(np.abs(m.means.numpy() - pts.mean(0)).sum(1)))
        scatter = (pts - pts.mean(0)).T @ (pts - pts.mean(0))
        cov = (scatter + d * glob) / (len(pts) - 1 + d)
        assert np.allclose(m.means[k].numpy(), pts.mean(0), atol=1e-12)
        assert np.allclose((m.chol[k] @ m.chol[k].T).numpy(), cov, rtol=1e-6, atol=1e-9)
        logs.append(np.log(len(pts) / len(xs)) + multivariate_normal(pts.mean(0), cov).logpdf(xs[:9]))
    assert np.allclose(m.log_density(x[:9]).numpy(), logsumexp(np.stack(logs), axis=0), atol=1e-6)


def test_mixture_samples_follow_its_weights_and_covariances() -> None:
    """Tight, tilted components at points of the sphere: samples fall to each with its weight, and the tangent
    spread of one component is its covariance (the projection onto the sphere hardly moves points this close)."""
    from companion.latent_samplers import MixtureCodes

    d = 3
    r = math.sqrt(d)
    means = torch.tensor([[0, 0, r], [r, 0, 0]], dtype=torch.float64)
    chol = torch.zeros(2, d, d, dtype=torch.float64)
    chol[:] = torch.tensor([[0.02, 0, 0], [0.015, 0.01, 0], [0, 0, 1e-4]], dtype=torch.float64)
    m = MixtureCodes(torch.tensor([0.7, 0.3], dtype=torch.float64), means, chol)
    s = m.sample(20000, torch.Generator().manual_seed(0)).double()
    first = (s - means[0]).norm(dim=1) < 0.5
    assert abs(float(first.double().mean()) - 0.7) < 0.015
    cov = torch.cov(s[first][:, :2].T)
    want = (chol[0] @ chol[0].T)[:2, :2]
    assert torch.allclose(cov, want, rtol=0.08, atol=2e-6), (cov, want)


def test_a_mixture_with_clusters_smaller_than_d_is_still_proper() -> None:
    """Clusters of 3 codes in 10 dimensions: their own covariance is singular, the shrunk one is not."""
    from companion.latent_samplers import MixtureCodes, MixtureConfig

    z = project_to_sphere(torch.randn(24, 10, generator=torch.Generator().manual_seed(0)))
    m = MixtureCodes.fit(z, MixtureConfig(components=8))
    assert torch.isfinite(m.log_density(z)).all() and (m.chol.diagonal(dim1=1, dim2=2) > 0).all()
    assert m.sample(5, torch.Generator().manual_seed(1)).norm(dim=1).sub(math.sqrt(10)).abs().max() < 1e-5


@pytest.mark.parametrize("seed", [0, 1])
def test_imle_mapper_sends_no_region_of_noise_to_one_point(seed: int) -> None:
    """A region of noise where every unit of the second layer is off maps to the last layer's bias alone: one code
    for all of it (book:glo's first, ReLU mapper drew 4.4 % of its samples there, all blank). With the units of a
    trained mapper pushed off for much of the noise, the default mapper still gives 20,000 noise vectors 20,000
    distinct codes; the same mapper with ReLUs does not (the control)."""
    from companion.latent_samplers import IMLEConfig, train_imle

    g = torch.Generator().manual_seed(seed)
    codes = project_to_sphere(torch.randn(64, 8, generator=g))
    counts = {}
    for activation in ("leaky_relu", "relu"):
        cfg = IMLEConfig(noise_dim=4, hidden=32, epochs=10, batch_size=16, seed=seed, activation=activation)
        mapper, _ = train_imle(codes, cfg)
        assert torch.unique(mapper.sample(20000, torch.Generator().manual_seed(1)), dim=0).shape[0] == 20000
        with torch.no_grad():  # plant the dead region: second-layer units off wherever their input is small
            mapper.net[2].bias.sub_(mapper.net[2].weight.abs().sum(1))
        counts[activation] = torch.unique(mapper.sample(20000, torch.Generator().manual_seed(1)), dim=0).shape[0]
    assert counts["leaky_relu"] == 20000 and counts["relu"] < 19000, counts


def test_imle_pulls_samples_onto_the_codes() -> None:
    from companion.latent_samplers import IMLEConfig, nearest_neighbours, train_imle

    codes = project_to_sphere(torch.randn(8, 4, generator=torch.Generator().manual_seed(0)))  # 8 points to cover
    mapper, history = train_imle(codes, IMLEConfig(noise_dim=4, hidden=32, epochs=300, batch_size=8, candidates=8))
    assert history[-1] < 0.3 * history[0]
    s = mapper.sample(400, torch.Generator().manual_seed(1))
    hit = nearest_neighbours(codes, s)
    assert (s[hit] - codes).norm(dim=1).max() < 0.5  # every code has a sample near it: no mode dropped


def test_imle_training_equals_mapping_every_candidate_with_autograd() -> None:
    """`train_imle` maps only the matched noise again with autograd on; the reference below maps every candidate
    with autograd and indexes the matched rows (IMLE as written). Same draws, same loss: the same mapper."""
    from companion.latent_samplers import CodeMapper, IMLEConfig, nearest_neighbours, train_imle

    codes = project_to_sphere(torch.randn(64, 6, generator=torch.Generator().manual_seed(3)))
    cfg = IMLEConfig(noise_dim=3, hidden=16, epochs=2, batch_size=16, candidates=5, seed=4, match_size=0,
                     schedule="constant")  # fmt: skip
    got, history = train_imle(codes, cfg)
    torch.manual_seed(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    ref = CodeMapper(cfg.noise_dim, 6, cfg.hidden, cfg.activation)
    opt = torch.optim.Adam(ref.parameters(), cfg.lr)
    losses = []
    for _ in range(cfg.epochs):
        perm = torch.randperm(64, generator=g)
        for start in range(0, 64, cfg.batch_size):
            z = codes[perm[start : start + cfg.batch_size]]
            samples = ref(torch.randn(cfg.batch_size * cfg.candidates, cfg.noise_dim, generator=g))
            loss = (samples[nearest_neighbours(z, samples.detach())] - z).square().sum(1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    for (name, a), b in zip(got.state_dict().items(), ref.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-6), name
    assert history == pytest.approx([math.sqrt(sum(losses[i * 4 : i * 4 + 4]) / 4) for i in range(2)], rel=1e-5)


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_imle_pool_shared_by_several_batches_matches_once_then_steps(schedule: str) -> None:
    """``match_size`` > ``batch_size`` (Li & Malik's schedule): every ``match_size`` codes are matched once against
    one pool of ``match_size * candidates`` samples, then the mapper steps through their pairs ``batch_size`` at a
    time, the pairs not matched again in between. The reference finds each nearest sample with a Python loop; 80
    codes in pools of 32 leave a last pool of 16 (one step): 5 steps an epoch. With ``schedule="cosine"`` step t of
    T = 10 takes the learning rate lr (1 + cos(pi t / T)) / 2, set by hand here."""
    from companion.latent_samplers import CodeMapper, IMLEConfig, train_imle

    codes = project_to_sphere(torch.randn(80, 5, generator=torch.Generator().manual_seed(5)))
    cfg = IMLEConfig(noise_dim=3, hidden=16, epochs=2, batch_size=16, candidates=3, match_size=32, seed=2,
                     lr=0.05, schedule=schedule)  # fmt: skip
    got, history = train_imle(codes, cfg)
    torch.manual_seed(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    ref = CodeMapper(cfg.noise_dim, 5, cfg.hidden, cfg.activation)
    opt = torch.optim.Adam(ref.parameters(), cfg.lr)
    per_epoch, t = [], 0
    for _ in range(cfg.epochs):
        perm, losses = torch.randperm(80, generator=g), []
        for first, size in ((0, 32), (32, 32), (64, 16)):
            z = codes[perm[first : first + size]]
            e = torch.randn(size * cfg.candidates, cfg.noise_dim, generator=g)
            with torch.no_grad():
                pool = ref(e)
            pick = [min(range(len(pool)), key=lambda j, q=q: float((pool[j] - q).square().sum())) for q in z]
            for start in range(0, size, 16):
                loss = (ref(e[pick[start : start + 16]]) - z[start : start + 16]).square().sum(1).mean()
                decay = (1 + math.cos(math.pi * t / 10)) / 2 if schedule == "cosine" else 1
                opt.param_groups[0]["lr"] = cfg.lr * decay
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(loss.item())
                t += 1
        per_epoch.append(math.sqrt(sum(losses) / len(losses)))
    for (name, a), b in zip(got.state_dict().items(), ref.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-6), name
    assert history == pytest.approx(per_epoch, rel=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_imle_larger_shared_pool_gives_nearer_matches(seed: int) -> None:
    """The point of ``match_size``: for the same candidates per code, a pool shared by 16 batches holds 16 times the
    samples, and each code's nearest one is nearer (first epoch's matched distance) than in its batch's own pool."""
    from companion.latent_samplers import IMLEConfig, train_imle

    codes = project_to_sphere(torch.randn(1024, 6, generator=torch.Generator().manual_seed(seed)))
    first = {
        s: train_imle(codes, IMLEConfig(noise_dim=6, hidden=32, epochs=1, batch_size=16, candidates=4, match_size=s,
                                        seed=seed))[1][0]
        for s in (16, 256)
    }  # fmt: skip
    assert first[256] < 0.9 * first[16], first


def test_glo_train_stores_every_sampler_and_defaults_to_the_lowest_fid(tmp_path: Path, real_mnist_dir: Path) -> None:
    """On real digits, `glo train` fits the three samplers, measures each (FID of 2,000 samples in the book's features
    against the first 10,000 training digits, never the test digits; recomputed here by value) and makes the lowest
    the default."""
    from companion.checkpoint import GLO_FORMAT, load_checkpoint
    from companion.data import load_dataset
    from companion.experiment import generate, load_generator
    from companion.latent_samplers import load_samplers
    from companion.metrics import FIDScorer, get_classifier

    out = tmp_path / "glo"
    argv = ["glo", "train", "--dataset", "mnist", "--train-subset", "512", "--epochs", "1", "--batch-size", "64",
            "--data-dir", str(real_mnist_dir), "--device", "cpu", "--no-progress", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    ck = load_checkpoint(out / "ckpt.pt", GLO_FORMAT)
    stored = ck["samplers"]
    assert set(stored["fid"]) == {"imle", "gmm", "gaussian"} and stored["fid_samples"] == 2000
    assert stored["default"] == min(stored["fid"], key=stored["fid"].get)
    G, _, _ = load_generator(out / "ckpt.pt")
    reference = load_dataset("mnist", "train", real_mnist_dir).images[:10000]
    scorer = FIDScorer(get_classifier("mnist", real_mnist_dir), reference)
    for name, law in load_samplers(ck).items():
        fid = scorer.score_images(generate(G, 2000, 100, 0, codes=law))["fid"]
        assert abs(fid - stored["fid"][name]) < 1e-3 * max(1.0, fid), (name, fid, stored["fid"][name])


@pytest.mark.parametrize("sampler", ["imle", "gmm", "gaussian"])
def test_no_stored_sampler_draws_a_blank_image(glo_run: Path, sampler: str) -> None:
    """A blank sample (brightest pixel below grey level 32) is a sampler's failure, not a digit: none in 2,000."""
    from companion.checkpoint import GLO_FORMAT, load_checkpoint
    from companion.experiment import generate, load_generator
    from companion.latent_samplers import load_samplers

    G, _, _ = load_generator(glo_run / "ckpt.pt")
    law = load_samplers(load_checkpoint(glo_run / "ckpt.pt", GLO_FORMAT))[sampler]
    x = generate(G, 2000, 100, 0, codes=law)
    brightest = x.flatten(1).max(1).values
    assert int((brightest < 32).sum()) == 0, f"{int((brightest < 32).sum())} blank samples from {sampler}"


def test_the_sampler_benchmark_scores_each_sampler_by_value(
    glo_run: Path, real_mnist_dir: Path, capsys, monkeypatch, tmp_path: Path
) -> None:
    """benchmarks/glo_samplers.py on a tiny run: each line's FID is the FID of that sampler's samples, recomputed."""
    import re
    import runpy
    import sys

    from companion.checkpoint import GLO_FORMAT, load_checkpoint
    from companion.coverage import classifier_features, precision_recall
    from companion.data import load_dataset
    from companion.experiment import load_generator
    from companion.latent_samplers import IMLEConfig, MixtureCodes, MixtureConfig, load_samplers, train_imle
    from companion.metrics import FIDScorer, get_classifier
    from companion.pixels import to_uint8

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "glo_samplers.py"
    argv = [str(script), "--checkpoint", str(glo_run / "ckpt.pt"), "--k", "3", "--imle", "2:1", "2:1:8", "2:1:8:64c",
            "--blend", "1", "3", "--samples",
            "64", "--data-dir", str(real_mnist_dir), "--stored", "--codes",
            "--markdown", str(tmp_path / "t.md")]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(script), run_name="__main__")
    assert done.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    pattern = r"(.*): FID\s+([\d.]+), precision ([\d.]+), recall ([\d.]+),"
    parsed = [m for m in (re.match(pattern, line) for line in lines) if m]
    got = {m[1].strip(): float(m[2]) for m in parsed}
    pr = {m[1].strip(): (float(m[3]), float(m[4])) for m in parsed}
    ck = load_checkpoint(glo_run / "ckpt.pt", GLO_FORMAT)
    stored = {f"stored {name}" for name in load_samplers(ck)}
    assert set(got) == {"training codes", "k =    3", "IMLE 2:1", "IMLE 2:1:8", "IMLE 2:1:8:64c", "blend 1",
                        "blend 3"} | stored  # fmt: skip
    codes = load_checkpoint(glo_run / "ckpt.pt", GLO_FORMAT)["codes"].float()
    G, _, _ = load_generator(glo_run / "ckpt.pt")
    scorer = FIDScorer(
        get_classifier("mnist", real_mnist_dir), load_dataset("mnist", "train", real_mnist_dir).images[:10000]
    )
    per_batch = {"match_size": 0, "schedule": "constant"}  # a spec without ":S" and "c"

    def blend3(n: int, g: torch.Generator) -> torch.Tensor:  # by hand: the code and its 2 nearest, on the sphere
        z = codes[torch.randint(0, len(codes), (n,), generator=g)]
        order = ((z[:, None] - codes[None]) ** 2).sum(-1).argsort(1)
        mean = (codes[order[:, 0]] + codes[order[:, 1]] + codes[order[:, 2]]) / 3
        return mean * math.sqrt(codes.shape[1]) / mean.norm(dim=1, keepdim=True)

    laws = {"k =    3": MixtureCodes.fit(codes, MixtureConfig(components=3)).sample,
            "IMLE 2:1": train_imle(codes, IMLEConfig(candidates=2, epochs=1, noise_dim=16, **per_batch))[0].sample,
            "IMLE 2:1:8": train_imle(codes, IMLEConfig(candidates=2, epochs=1, noise_dim=8, **per_batch))[0].sample,
            "IMLE 2:1:8:64c": train_imle(codes, IMLEConfig(candidates=2, epochs=1, noise_dim=8, match_size=64,
                                                           schedule="cosine"))[0].sample,
            "training codes": lambda n, g: codes[torch.randint(0, len(codes), (n,), generator=g)],
            "blend 1": lambda n, g: codes[torch.randint(0, len(codes), (n,), generator=g)],  # a code is its own nearest
            "blend 3": blend3,
            **{f"stored {name}": law for name, law in load_samplers(ck).items()}}  # fmt: skip
    classifier = get_classifier("mnist", real_mnist_dir)
    real = classifier_features(classifier, load_dataset("mnist", "train", real_mnist_dir).images[:64])
    for name, law in laws.items():
        with torch.no_grad():
            images = to_uint8(G(law(64, torch.Generator().manual_seed(0))))
        assert got[name] == pytest.approx(scorer.score_images(images)["fid"], abs=0.051), name  # one decimal
        want = precision_recall(real, classifier_features(classifier, images))
        assert pr[name] == pytest.approx((want["precision"], want["recall"]), abs=5e-4), name
    # --markdown: the same numbers, one row per printed line in its order, and the command under the table
    table = (tmp_path / "t.md").read_text().splitlines()
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in table[2 : 2 + len(parsed)]]
    for m, row in zip(parsed, cells, strict=True):
        assert (float(row[1]), float(row[2]), float(row[3])) == pytest.approx(
            (float(m[2]), float(m[3]), float(m[4])), abs=0.051
        )
    assert cells[0][0] == "G on its training codes"
    assert "IMLE: 8-d noise, 2 candidates, 1 epochs" in [c[0] for c in cells]
    assert "IMLE: 8-d noise, 2 candidates, 1 epochs, pools of 128 for 64 codes, cosine" in [c[0] for c in cells]
    assert "mean of a code and its 2 nearest" in [c[0] for c in cells]
    assert "python benchmarks/glo_samplers.py --checkpoint" in table[-1]

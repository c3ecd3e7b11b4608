"""The checks, one per coded exercise, and the open exercises: the table `EXERCISES`.

Every check compares the student's function with something computed independently of it (a
hand value, autograd, a closed form, a property that any correct answer has) on small inputs,
and its failure message says what was expected. Each is shown to fail on a plausible wrong
answer by ``tests/test_exercises.py``.
"""

from __future__ import annotations

import math
from types import ModuleType

import numpy as np
import torch
from torch import nn

from companion.exercises.registry import CheckFailed, Exercise

__all__ = ["EXERCISES"]


def _close(got, want, what: str, rtol: float = 1e-6, atol: float = 1e-9) -> None:
    got_t, want_t = torch.as_tensor(got, dtype=torch.float64), torch.as_tensor(want, dtype=torch.float64)
    if got_t.shape != want_t.shape:
        raise CheckFailed(f"{what}: expected shape {tuple(want_t.shape)}, got {tuple(got_t.shape)}")
    if not torch.allclose(got_t, want_t, rtol=rtol, atol=atol):
        raise CheckFailed(f"{what}: expected {_fmt(want_t)}, got {_fmt(got_t)}")


def _fmt(t: torch.Tensor) -> str:
    if t.numel() == 1:
        return f"{t.item():.6g}"
    return " ".join(np.array2string(t.numpy(), precision=4, threshold=6, max_line_width=10**6).split())


def _sig(a: float) -> float:
    return 1 / (1 + math.exp(-a))


REAL = torch.tensor([2.0, -0.5, 1.0], dtype=torch.float64)
FAKE = torch.tensor([-1.0, 0.3, -2.0], dtype=torch.float64)


# --- chapter 1 ----------------------------------------------------------------------------------------


def check_d_loss_bce(m: ModuleType) -> None:
    want = sum(-math.log(_sig(r)) for r in REAL.tolist()) / 3 + sum(-math.log(1 - _sig(f)) for f in FAKE.tolist()) / 3
    _close(m.d_loss_bce(REAL, FAKE), want, "d_loss_bce on a batch of 3 (a mean over the batch, real and fake terms)")
    big = torch.tensor([-200.0, 200.0])
    v = m.d_loss_bce(big, big)
    if not torch.isfinite(v):
        raise CheckFailed("d_loss_bce(±200 logits) is not finite: compute log sigma(a) as -softplus(-a), from logits")
    _close(v, (200 + 0 + 0 + 200) / 2, "d_loss_bce at logits ±200", rtol=1e-4)


def _g_check(fn, per_sample, name: str) -> None:
    want = sum(per_sample(a) for a in FAKE.tolist()) / 3
    _close(fn(FAKE), want, f"{name} on a batch of 3 (mean over the batch)")
    a = torch.tensor([-30.0, 5.0], dtype=torch.float64, requires_grad=True)
    fn(a).backward()
    if not torch.isfinite(a.grad).all():
        raise CheckFailed(f"{name}: the gradient at logit -30 is not finite; work from logits")


def check_g_losses(m: ModuleType) -> None:
    _g_check(m.g_loss_minimax, lambda a: math.log(1 - _sig(a)), "g_loss_minimax")
    _g_check(m.g_loss_nonsaturating, lambda a: -math.log(_sig(a)), "g_loss_nonsaturating")
    a = torch.tensor([-10.0], dtype=torch.float64, requires_grad=True)
    m.g_loss_minimax(a).backward()
    if abs(float(a.grad)) > 1e-3:
        raise CheckFailed(
            f"g_loss_minimax: dL/da at a = -10 should be -sigmoid(-10) = -4.5e-5, got {float(a.grad):.3g}"
        )


class _TinyD(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x.flatten(1)).squeeze(1)


def check_discriminator_step(m: ModuleType) -> None:
    torch.manual_seed(0)
    G, D = nn.Linear(3, 4), _TinyD()
    opt = torch.optim.SGD(D.parameters(), lr=0.1)
    real, z = torch.randn(5, 4), torch.randn(5, 3)
    before = {k: v.clone() for k, v in D.state_dict().items()}
    # the expected loss and the expected update, computed here independently
    with torch.no_grad():
        fake = G(z)
    from torch.nn.functional import softplus

    D_ref = _TinyD()
    D_ref.load_state_dict(before)
    ref_loss = softplus(-D_ref(real)).mean() + softplus(D_ref(fake)).mean()
    ref_loss.backward()
    loss = m.discriminator_step(D, G, opt, real, z)
    _close(loss, ref_loss.detach(), "the returned D loss (BCE from logits, real up and fake down)")
    if any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in G.parameters()):
        raise CheckFailed("G received gradients from the D step: detach the generated batch before D sees it")
    for name, p in D_ref.named_parameters():
        _close(D.state_dict()[name], before[name] - 0.1 * p.grad, f"D's {name} after one SGD step (lr 0.1)")


class _BNGen(nn.Module):
    """z (B, 2) -> (B, 1, 2, 3) images in [0, 1], with BatchNorm (whose running statistics must not move)."""

    def __init__(self) -> None:
        super().__init__()
        self.lin, self.bn = nn.Linear(2, 6), nn.BatchNorm1d(6)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.bn(self.lin(z))).view(-1, 1, 2, 3)


def check_fixed_latent_grid(m: ModuleType) -> None:
    torch.manual_seed(0)
    G = _BNGen().train()
    z = torch.randn(6, 2)
    stats = G.bn.running_mean.clone()
    grid = np.asarray(m.fixed_latent_grid(G, z, 3))
    if not torch.equal(G.bn.running_mean, stats):
        raise CheckFailed("BatchNorm's running statistics moved: evaluate G in eval mode")
    if not G.training:
        raise CheckFailed("G was left in eval mode: restore the mode it was in")
    G.eval()
    with torch.no_grad():
        imgs = (G(z).clamp(0, 1) * 255).round().to(torch.uint8)[:, 0].numpy()
    if grid.shape != (4, 9) or grid.dtype != np.uint8:
        raise CheckFailed(f"expected a (2 rows x 2, 3 columns x 3) = (4, 9) uint8 grid, got {grid.shape} {grid.dtype}")
    for k in range(6):
        r, c = divmod(k, 3)
        if not np.array_equal(grid[2 * r : 2 * r + 2, 3 * c : 3 * c + 3], imgs[k]):
            raise CheckFailed(f"image {k} should sit at grid row {r}, column {c} (row-major order)")


# --- chapter 2 ----------------------------------------------------------------------------------------


def check_project_to_sphere(m: ModuleType) -> None:
    z = torch.tensor([[3.0, 4.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.5]], dtype=torch.float64)
    _close(m.project_to_sphere(z), [[1.2, 1.6, 0, 0], [0, 0, 0, 2.0]], "project_to_sphere (norm sqrt(4) = 2 per row)")


class _LinearG(nn.Module):
    """A small generator that records the batch sizes it is called with."""

    latent_dim = 8

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.lin = nn.Linear(8, 16)
        self.batches: list[int] = []

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        self.batches.append(z.shape[0])
        return torch.sigmoid(self.lin(z)).view(-1, 1, 4, 4)


def check_invert(m: ModuleType) -> None:
    G = _LinearG()
    g = torch.Generator().manual_seed(7)
    z_true = torch.randn(5, 8, generator=g)
    z_true = z_true * (math.sqrt(8) / z_true.norm(dim=1, keepdim=True))
    with torch.no_grad():
        x = G(z_true)
    G.batches.clear()
    z = m.invert(G, x, steps=300, restarts=4, lr=0.1, seed=0)
    if 20 not in G.batches:
        raise CheckFailed(f"the 4 restarts of 5 images should run as one batch of 20; G saw {sorted(set(G.batches))}")
    if tuple(z.shape) != (5, 8):
        raise CheckFailed(f"invert should return (N, d) = (5, 8) latents, got {tuple(z.shape)}")
    _close(z.norm(dim=1), [math.sqrt(8)] * 5, "norms of the returned z (the sphere prior)", rtol=1e-4)
    with torch.no_grad():
        mse = (G(z) - x).square().flatten(1).mean(1)
    worst = float(mse.max())
    if worst > 1e-4:
        raise CheckFailed(f"in-span targets G(z*) should be recovered (MSE < 1e-4 per image); the worst is {worst:.2e}")
    if any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in G.parameters()):
        raise CheckFailed("G's parameters received gradients: G must stay frozen")


# --- chapter 3 ----------------------------------------------------------------------------------------


def check_inpainting_loss(m: ModuleType) -> None:
    pred = torch.zeros(2, 1, 2, 2, dtype=torch.float64)
    obs = torch.tensor([[[[1.0, 2.0], [3.0, 99.0]]], [[[0.5, 0.5], [0.5, 0.5]]]], dtype=torch.float64)
    mask = torch.tensor([[[[1.0, 1.0], [1.0, 0.0]]]], dtype=torch.float64)
    _close(m.inpainting_loss(pred, obs, mask), [2.0, 0.5], "per-image mean |error| over the 3 known pixels")
    per_image = torch.cat([mask, torch.tensor([[[[0.0, 0.0], [0.0, 1.0]]]], dtype=torch.float64)])
    _close(m.inpainting_loss(pred, obs, per_image), [2.0, 0.5], "with one mask per image")


def check_downsample(m: ModuleType) -> None:
    x = torch.arange(16, dtype=torch.float64).view(1, 1, 4, 4)
    _close(m.downsample(x, 2), [[[[2.5, 4.5], [10.5, 12.5]]]], "downsample of arange(16) by 2 (block means)")
    g = torch.Generator().manual_seed(0)
    for factor in (2, 4):
        x = torch.randn(3, 1, 8, 8, generator=g, dtype=torch.float64)
        y = torch.randn(3, 1, 8 // factor, 8 // factor, generator=g, dtype=torch.float64)
        lhs = (m.downsample(x, factor) * y).sum()
        rhs = (x * m.downsample_adjoint(y, factor)).sum()
        _close(lhs, rhs, f"<A x, y> against <x, A^T y> (factor {factor})", rtol=1e-10)


# --- part II.1 ----------------------------------------------------------------------------------------


def check_coupling(m: ModuleType) -> None:
    torch.manual_seed(0)
    s_net, t_net = nn.Linear(4, 4).double(), nn.Linear(4, 4).double()
    mask = torch.tensor([1.0, 0.0, 1.0, 0.0], dtype=torch.float64)
    x = torch.randn(3, 4, dtype=torch.float64)
    y, logdet = m.coupling_forward(x, mask, s_net, t_net)
    _close(y[:, mask.bool()], x[:, mask.bool()], "the masked half must pass unchanged")
    for i in range(3):
        J = torch.autograd.functional.jacobian(lambda v: m.coupling_forward(v[None], mask, s_net, t_net)[0][0], x[i])
        _close(logdet[i], torch.linalg.slogdet(J)[1], f"log|det J| of row {i} against autograd's slogdet", rtol=1e-8)
    with torch.no_grad():
        back = m.coupling_inverse(y, mask, s_net, t_net)
    _close(back, x, "coupling_inverse(coupling_forward(x)) must give x back", rtol=1e-9)


# --- part II.2 ----------------------------------------------------------------------------------------


def check_generator_gradients(m: ModuleType) -> None:
    import sympy as sp

    a = sp.Symbol("a", real=True)
    mm, ns = m.generator_gradients(a)
    sig = 1 / (1 + sp.exp(-a))
    if sp.simplify(mm + sig) != 0:
        raise CheckFailed(f"minimax: expected -sigma(a) = -1/(1 + exp(-a)), got {sp.simplify(mm)}")
    if sp.simplify(ns + 1 - sig) != 0:
        raise CheckFailed(f"non-saturating: expected -(1 - sigma(a)), got {sp.simplify(ns)}")
    if sp.limit(mm, a, -sp.oo) != 0 or sp.limit(ns, a, -sp.oo) != -1:
        raise CheckFailed("as a -> -oo (D rejects the fake) the minimax gradient must vanish and the other tend to -1")


def check_gradient_ratio(m: ModuleType) -> None:
    from companion.losses import minimax_generator_loss, nonsaturating_generator_loss

    a = torch.tensor([-20.0, -5.0, 0.0, 2.0, 10.0], dtype=torch.float64)
    want = []
    for v in a.tolist():  # autograd through the project's losses, one logit at a time
        grads = []
        for loss in (minimax_generator_loss, nonsaturating_generator_loss):
            x = torch.tensor([v], dtype=torch.float64, requires_grad=True)
            loss(x).backward()
            grads.append(abs(float(x.grad[0])))
        want.append(grads[0] / grads[1])
    _close(m.gradient_ratio(a), want, "|dL_minimax/da| / |dL_NS/da| (autograd through companion.losses)", rtol=1e-9)
    big = m.gradient_ratio(torch.tensor([40.0, 300.0], dtype=torch.float64))
    if not torch.isfinite(torch.as_tensor(big)).all():
        raise CheckFailed(
            "gradient_ratio(40) is not finite: 1 - sigma(40) rounds to 0; simplify sigma/(1 - sigma) first"
        )
    _close(big, [math.exp(40.0), math.exp(300.0)], "gradient_ratio at a = 40 and 300", rtol=1e-9)


# --- part II.3 ----------------------------------------------------------------------------------------


def check_affine_log_prob(m: ModuleType) -> None:
    x = torch.tensor([-1.0, 0.5, 3.0], dtype=torch.float64)
    for a, b in ((2.0, 0.5), (-0.5, 1.0)):  # a negative scale flips the axis; the density must not change sign
        loc, scale = torch.tensor(b, dtype=torch.float64), torch.tensor(abs(a), dtype=torch.float64)
        want = torch.distributions.Normal(loc, scale).log_prob(x)
        _close(m.affine_log_prob(x, a, b), want, f"log p(x) of x = {a} z + {b}, z ~ N(0, 1)", rtol=1e-10)


def check_pure_values(m: ModuleType) -> None:
    f = np.array([[3.0, 1.0], [0.0, 2.0], [1.0, 1.0]])
    got = tuple(float(v) for v in m.pure_values(f))
    if got != (1.0, 2.0):
        raise CheckFailed(f"for [[3, 1], [0, 2], [1, 1]] (rows maximise) expected (1.0, 2.0), got {got}")
    pennies = np.array([[1.0, -1.0], [-1.0, 1.0]])
    if tuple(float(v) for v in m.pure_values(pennies)) != (-1.0, 1.0):
        raise CheckFailed("matching pennies: expected (-1.0, 1.0)")


def _js(p: torch.Tensor, q: torch.Tensor) -> float:
    mid = (p + q) / 2

    def kl(u: torch.Tensor, v: torch.Tensor) -> float:
        k = u > 0
        return float((u[k] * (u[k] / v[k]).log()).sum())

    return 0.5 * kl(p, mid) + 0.5 * kl(q, mid)


def check_optimal_d(m: ModuleType) -> None:
    p = torch.tensor([0.5, 0.5, 0.0, 0.0], dtype=torch.float64)
    q = torch.tensor([0.25, 0.25, 0.5, 0.0], dtype=torch.float64)
    _close(m.optimal_d(p, q), [2 / 3, 2 / 3, 0.0, 0.5], "D* = p_data / (p_data + p_g) (1/2 where both are 0)")
    for p_g in (q, torch.tensor([0.0, 0.0, 1.0, 0.0], dtype=torch.float64)):  # the second: D* = 1 where p_g = 0
        v = m.gan_value(p, p_g, m.optimal_d(p, p_g))
        if not torch.isfinite(torch.as_tensor(v)):
            raise CheckFailed("gan_value is not finite where D* = 1 and p_g = 0: use 0 log 0 = 0")
        _close(v, 2 * _js(p, p_g) - math.log(4), "V(D*, G) = 2 JS(p_data || p_g) - log 4", rtol=1e-10)


# --- chapter 4 ----------------------------------------------------------------------------------------

H_REAL = torch.tensor([2.0, -0.5, 0.5], dtype=torch.float64)  # no logit on a hinge's kink (a = +-1)
H_FAKE = torch.tensor([-1.5, 0.3, -2.0], dtype=torch.float64)


def check_hinge_losses(m: ModuleType) -> None:
    real, fake = H_REAL.clone().requires_grad_(True), H_FAKE.clone().requires_grad_(True)
    d, g = m.hinge_losses(real, fake)
    # By hand: max(0, 1 - a) on reals = 0, 1.5, 0.5; max(0, 1 + a) on fakes = 0, 1.3, 0; -a on fakes.
    _close(d, (0 + 1.5 + 0.5) / 3 + (0 + 1.3 + 0) / 3, "L_D on a batch of 3 (means of max(0, 1 - a) and max(0, 1 + a))")
    _close(g, -(-1.5 + 0.3 - 2.0) / 3, "L_G = -mean(a) on the fakes")
    (grad_real,) = torch.autograd.grad(d, real)
    _close(grad_real, [0.0, -1 / 3, -1 / 3], "dL_D/da on the reals (0 beyond the margin a > 1)")
    (grad_fake,) = torch.autograd.grad(g, fake)
    _close(grad_fake, [-1 / 3] * 3, "dL_G/da on the fakes (linear: never saturates)")


def _orthogonal(n: int, seed: int) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return q


def check_spectral_norm_estimate(m: ModuleType) -> None:
    w = _orthogonal(4, 1)[:, :3] @ torch.diag(torch.tensor([3.0, 1.0, 0.5], dtype=torch.float64)) @ _orthogonal(3, 2).T
    u0 = torch.tensor([1.0, -2.0, 0.5, 1.0], dtype=torch.float64)
    # One iteration by hand (v from W^T u, then u from W v, both normalised; sigma = u^T W v).
    v1 = w.T @ u0
    v1 = v1 / v1.norm()
    u1 = w @ v1
    u1 = u1 / u1.norm()
    sigma, u = m.spectral_norm_estimate(w, u0, iters=1)
    _close(u, u1, "u after one power iteration (v = W^T u / |W^T u|, then u = W v / |W v|)", rtol=1e-9)
    _close(sigma, u1 @ w @ v1, "sigma after one iteration: u^T W v", rtol=1e-9)
    sigma, u = m.spectral_norm_estimate(w, u0, iters=200)
    _close(sigma, 3.0, "sigma of a 4x3 matrix with singular values 3, 1, 0.5 after 200 iterations", rtol=1e-8)
    _close(u.norm(), 1.0, "|u| (u is returned normalised)", rtol=1e-9)
    big = torch.randn(5, 7, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    sigma, _ = m.spectral_norm_estimate(big, torch.ones(5, dtype=torch.float64), iters=300)
    want = torch.linalg.matrix_norm(big, 2)
    _close(sigma, want, "sigma of a random 5x7 matrix against torch.linalg.matrix_norm(W, 2)", rtol=1e-6)


def check_ema_update(m: ModuleType) -> None:
    avg, p = torch.tensor([1.0, 2.0], dtype=torch.float64), torch.tensor([3.0, -2.0], dtype=torch.float64)
    keep = avg
    want = avg.clone()
    for step, decay in ((0, 0.999), (5, 0.999), (10**6, 0.9)):  # beta_t = 0.1, 0.4 (warm-up), then 0.9
        beta = min(decay, (1 + step) / (10 + step))
        want = beta * want + (1 - beta) * p
        m.ema_update([avg], [p], step, decay)
        _close(avg, want, f"the average after the update at t = {step}, beta = {decay} (beta_t = {beta:.3g})")
    if avg is not keep or not torch.equal(p, torch.tensor([3.0, -2.0], dtype=torch.float64)):
        raise CheckFailed("ema_update must change the average in place and leave the weights alone")


class _QuadraticD(nn.Module):
    """D(x) = sum_i w_i x_i^2 per image: grad_x D = 2 w x, known by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor([[[[0.5, -1.0], [2.0, 0.25]]]], dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.w * x.square()).flatten(1).sum(1)


def check_r1_penalty(m: ModuleType) -> None:
    d = _QuadraticD()
    x = torch.arange(12, dtype=torch.float64).reshape(3, 1, 2, 2) / 10 - 0.4
    w = d.w.detach()
    # 1/2 mean_b sum_i (2 w_i x_bi)^2 = 2 mean_b sum_i w_i^2 x_bi^2; its derivative in w_i: 4 w_i mean_b x_bi^2.
    want = 2 * (w.square() * x.square()).flatten(1).sum(1).mean()
    pen = m.r1_penalty(d, x)
    _close(pen, want, "1/2 E |grad_x D(x)|^2 (squared norm per image, summed over pixels, mean over the batch)")
    if not pen.requires_grad:
        raise CheckFailed("the penalty does not depend on D's weights: take the gradient with create_graph=True")
    (grad_w,) = torch.autograd.grad(pen, d.w)
    _close(grad_w, 4 * w * x.square().mean(0, keepdim=True), "d(penalty)/dw, through the gradient")


# --- the table ----------------------------------------------------------------------------------------

EXERCISES: list[Exercise] = [
    Exercise("gan_losses", 1, "The discriminator's loss from logits", ("d_loss_bce",), check_d_loss_bce),
    Exercise("gan_losses", 2, "Both BCE generator losses", ("g_loss_minimax", "g_loss_nonsaturating"), check_g_losses),
    Exercise("gan_losses", 3, "The D step, with the right detach()", ("discriminator_step",), check_discriminator_step),
    Exercise("gan_losses", 4, "A fixed-latent grid writer", ("fixed_latent_grid",), check_fixed_latent_grid),
    Exercise(
        "gan_losses",
        5,
        "Adam's beta1 and the minimax stall",
        task="Train the minimax loss for 5 epochs with --beta1 0.9 and with the default 0.5, two seeds each "
        "(companion train --loss minimax --epochs 5 --beta1 0.9 --seed S --out ...). Count the epochs with mean "
        "D(G(z)) < 0.01 in metrics.jsonl. Does momentum shorten or lengthen the stall? Is the difference larger "
        "than the seed-to-seed spread?",
    ),
    Exercise("inversion", 1, "Projection onto the sphere", ("project_to_sphere",), check_project_to_sphere),
    Exercise("inversion", 2, "Latent optimisation with restarts and a prior", ("invert",), check_invert),
    Exercise(
        "inversion",
        3,
        "Where does the encoder fail?",
        task="Run the chapter's encoder on 200 test digits and sort them by PSNR. Look at the 12 worst: are they "
        "unusual digits (thick, slanted, broken) or digits the generator cannot draw? Invert the same 12 by "
        "optimisation (8 starts): which failures does optimisation repair?",
    ),
    Exercise(
        "restoration", 1, "The inpainting objective: L1 on known pixels", ("inpainting_loss",), check_inpainting_loss
    ),
    Exercise("restoration", 2, "A degradation and its adjoint", ("downsample", "downsample_adjoint"), check_downsample),
    Exercise(
        "restoration",
        3,
        "L1 or L2 for inpainting?",
        task="Restore the 14x14 hole with --data-loss l1 and --data-loss mse (companion restore --task inpaint "
        "--mask box14 ...). Compare PSNR on the known and on the missing pixels separately. Which data term "
        "fits the known pixels more tightly, and which fills the hole better?",
    ),
    Exercise(
        "flows",
        1,
        "An affine coupling layer: forward, inverse, log-det",
        ("coupling_forward", "coupling_inverse"),
        check_coupling,
    ),
    Exercise("flows", 2, "Change of variables in one dimension", ("affine_log_prob",), check_affine_log_prob),
    Exercise(
        "flows",
        3,
        "How fast does a KDE diverge on a surface?",
        task="Sample 200,000 points of G(z) = (z, sin 2z, cos 3z) with z in R (a curve in R^3) and compute the "
        "kernel density estimate at a sample point for bandwidths 0.2 .. 0.025 (companion.theory.flows.kde_slope)."
        " What slope do you expect in log h, and what do you measure?",
    ),
    Exercise("saturation", 1, "SymPy: both generator gradients", ("generator_gradients",), check_generator_gradients),
    Exercise("saturation", 2, "How much weaker: the gradient ratio", ("gradient_ratio",), check_gradient_ratio),
    Exercise(
        "saturation",
        3,
        "Measure the stall",
        task="In chapter 1's minimax runs (runs/gan_losses/full/minimax/seed*/metrics.jsonl) find the first step "
        "at which D(G(z)) exceeds 0.01. Plot the generator's gradient norm against D(G(z)) for the steps before "
        "it: is the relation the -sigma(a) of the derivation (a straight line on log-log axes)?",
    ),
    Exercise("stabilisers", 1, "The hinge losses", ("hinge_losses",), check_hinge_losses),
    Exercise(
        "stabilisers",
        2,
        "The largest singular value by power iteration",
        ("spectral_norm_estimate",),
        check_spectral_norm_estimate,
    ),
    Exercise("stabilisers", 3, "A moving average of weights, with a warm-up", ("ema_update",), check_ema_update),
    Exercise("stabilisers", 4, "The R1 penalty, differentiable in D", ("r1_penalty",), check_r1_penalty),
    Exercise(
        "stabilisers",
        5,
        "When does the average start to help?",
        task="Each epoch of the combination's runs logs FID through the moving average (fid) and through the raw "
        "generator (fid_raw): runs/stabilisers/full/better_the_combination/seed*/metrics.jsonl. Plot fid - fid_raw "
        "per epoch for every seed. From which epoch is the difference below 0 in all seeds? Compare with the "
        "average's time constant 1 / (1 - 0.999) = 1,000 steps (468 steps per epoch).",
    ),
    Exercise("minimax", 1, "max-min and min-max of a payoff matrix", ("pure_values",), check_pure_values),
    Exercise("minimax", 2, "D* and V(D*, G) = 2 JS - log 4", ("optimal_d", "gan_value"), check_optimal_d),
    Exercise(
        "minimax",
        3,
        "Break the tie",
        task="In max_D min_G the optimal D is the constant 1/2. Use best_response_generator(d, tie=...) with "
        "'first', 'last' and 'spread' and compute V and JS(p_data || p_g) for each. Why does the value not "
        "change while the generator does?",
    ),
]

"""The exercises' checks check: they pass on the solutions, fail on the stubs and on plausible wrong answers."""

from __future__ import annotations

import math
import types
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from companion.cli import main
from companion.exercises import CHAPTERS, EXERCISES, check_chapter, load_module
from companion.exercises.runner import stub_dir
from companion.exercises.stubs import stub_source

CODED = [e for e in EXERCISES if e.coded]


def test_every_chapter_has_three_to_six_exercises_and_some_are_coded() -> None:
    for chapter in CHAPTERS:
        mine = [e for e in EXERCISES if e.chapter == chapter]
        # six for the flows chapter, whose second page (the Glow) has three of its own
        assert 2 <= len(mine) <= (6 if chapter == "flows" else 5) and any(e.coded for e in mine), chapter
        assert [e.number for e in mine] == list(range(1, len(mine) + 1))


@pytest.mark.parametrize("chapter", list(CHAPTERS))
def test_solutions_pass(chapter: str) -> None:
    outcomes = check_chapter(chapter, load_module(chapter, solutions=True))
    assert outcomes and all(o.status == "passed" for o in outcomes), [(o.exercise.title, o.message) for o in outcomes]


@pytest.mark.parametrize("chapter", list(CHAPTERS))
def test_untouched_stubs_fail_every_check(chapter: str) -> None:
    outcomes = check_chapter(chapter, load_module(chapter))
    assert outcomes and all(o.status == "not done" for o in outcomes)


@pytest.mark.parametrize("chapter", list(CHAPTERS))
def test_stubs_are_generated_from_the_solutions(chapter: str) -> None:
    assert (stub_dir() / f"{chapter}.py").read_text() == stub_source(chapter), (
        "exercises/ drifted from the solutions: run python -m companion.exercises.stubs"
    )


def _softplus_free_bce(r, f):
    return -torch.log(torch.sigmoid(r)).mean() - torch.log(1 - torch.sigmoid(f)).mean()


def _no_detach_step(D, G, opt_d, real, z):
    from companion.exercises.solutions.gan_losses import d_loss_bce

    loss = d_loss_bce(D(real), D(G(z)))  # the generated batch is not detached
    opt_d.zero_grad()
    loss.backward()
    opt_d.step()
    return loss.detach()


def _grid_train_mode(G, z, nrow):
    with torch.no_grad():
        x = G(z)  # BatchNorm in train mode: the running statistics move
    b, _, h, w = x.shape
    img = (x.clamp(0, 1) * 255).round().to(torch.uint8)[:, 0]
    return img.reshape(b // nrow, nrow, h, w).permute(0, 2, 1, 3).reshape(b // nrow * h, nrow * w).numpy()


def _grid_column_major(G, z, nrow):
    from companion.exercises.solutions.gan_losses import fixed_latent_grid

    return fixed_latent_grid(G, z.view(nrow, -1, z.shape[1]).transpose(0, 1).reshape(z.shape), nrow)


def _invert_no_restart_choice(G, x, *, steps=300, restarts=4, lr=0.1, seed=0):
    from companion.exercises.solutions import inversion

    z = inversion.invert(G, x, steps=steps, restarts=1, lr=lr, seed=seed + 5)
    return z  # one start only: gets stuck on some targets


def _invert_no_prior(G, x, *, steps=300, restarts=4, lr=0.1, seed=0):
    from companion.exercises.solutions import inversion

    z = inversion.invert(G, x, steps=steps, restarts=restarts, lr=lr, seed=seed)
    return z * 1.1  # off the sphere


def _inpaint_pooled(pred, observed, mask):
    m = mask.expand_as(pred)
    return (((pred - observed).abs() * m).sum() / m.sum()).expand(pred.shape[0])  # one number for the batch


def _inpaint_all_pixels(pred, observed, mask):
    return (pred - observed).abs().flatten(1).mean(1)


def _adjoint_without_scaling(y, factor):
    return F.interpolate(y, scale_factor=factor, mode="nearest")


def _coupling_logdet_wrong(x, mask, s_net, t_net):
    xm = x * mask
    s, t = s_net(xm) * (1 - mask), t_net(xm) * (1 - mask)
    return xm + (1 - mask) * (x * torch.exp(s) + t), s_net(xm).sum(1)  # sums s over the passed half too


def _coupling_inverse_wrong(y, mask, s_net, t_net):
    ym = y * mask
    s, t = s_net(ym) * (1 - mask), t_net(ym) * (1 - mask)
    return ym + (1 - mask) * (y * torch.exp(-s) - t)  # shift removed after the scale


def _gradients_sign(a):
    import sympy as sp

    d = 1 / (1 + sp.exp(-a))
    return sp.diff(sp.log(d), a), sp.diff(-sp.log(d), a)  # log D for log(1 - D)


def _pure_values_swapped(payoff):
    return float(payoff.min(axis=0).max()), float(payoff.max(axis=1).min())


def _value_no_guard(p_data, p_g, d):
    return (p_data * d.log()).sum() + (p_g * (1 - d).log()).sum()


def _optimal_d_swapped(p_data, p_g):
    return p_g / (p_data + p_g).clamp_min(1e-300)


def _ratio_as_written(a):
    return torch.sigmoid(a) / (1 - torch.sigmoid(a))


def _affine_plus_log(x, a, b):
    z = (x - b) / a
    return -0.5 * z**2 - 0.5 * math.log(2 * math.pi) + math.log(abs(a))


def _affine_no_abs(x, a, b):
    z = (x - b) / a
    return -0.5 * z**2 - 0.5 * math.log(2 * math.pi) - torch.log(torch.tensor(a, dtype=torch.float64))


def _hinge_sign(real, fake):
    return F.relu(1 + real).mean() + F.relu(1 + fake).mean(), -fake.mean()  # the real term's sign


def _hinge_sum(real, fake):
    return F.relu(1 - real).sum() + F.relu(1 + fake).sum(), -fake.sum()


def _hinge_g_with_margin(real, fake):
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean(), F.relu(1 - fake).mean()  # G's loss hinged too


def _sn_unnormalised_v(weight, u, iters=1):
    for _ in range(iters):
        v = weight.T @ u  # not normalised: sigma comes out scaled by |W^T u|
        u = weight @ v
        u = u / u.norm()
    return u @ weight @ v, u


def _ema_no_warmup(average, params, step, decay):
    with torch.no_grad():
        for a, p in zip(average, params):
            a.mul_(decay).add_(p, alpha=1 - decay)


def _ema_swapped(average, params, step, decay):
    beta = min(decay, (1 + step) / (10 + step))
    with torch.no_grad():
        for a, p in zip(average, params):
            a.mul_(1 - beta).add_(p, alpha=beta)


def _r1_no_graph(discriminator, real):
    x = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(discriminator(x).sum(), x)  # no create_graph: D's weights get nothing
    return 0.5 * grad.square().flatten(1).sum(1).mean()


def _r1_pixel_mean(discriminator, real):
    x = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(discriminator(x).sum(), x, create_graph=True)
    return 0.5 * grad.square().mean()


def _actnorm_no_pixels(x, log_scale, shift):
    y = x * log_scale.exp().view(1, -1, 1, 1) + shift.view(1, -1, 1, 1)
    return y, log_scale.sum().expand(x.shape[0])  # the H W factor forgotten


def _squeeze_wrong_order(x):
    b, c, h, w = x.shape
    return x.view(b, c, h // 2, 2, w // 2, 2).permute(0, 1, 5, 3, 2, 4).reshape(b, 4 * c, h // 2, w // 2)


def _lap1_level_dropped(x, y, levels, blur):
    from companion.exercises.solutions.glo import lap1_loss

    return lap1_loss(x, y, levels, blur) - _last_residual(x, y, levels, blur)  # the residual level left out


def _last_residual(x, y, levels, blur):
    for _ in range(levels):
        x, y = F.avg_pool2d(blur(x), 2), F.avg_pool2d(blur(y), 2)
    return (x - y).abs().flatten(1).mean(1)


def _lap1_squared(x, y, levels, blur):
    def pyr(img):
        out = []
        for _ in range(levels):
            low = blur(img)
            out.append(img - low)
            img = F.avg_pool2d(low, 2)
        return [*out, img]

    return sum((a - b).square().flatten(1).mean(1) for a, b in zip(pyr(x), pyr(y)))


def _lap1_no_downsampling(x, y, levels, blur):
    def pyr(img):
        out = []
        for _ in range(levels):
            low = blur(img)
            out.append(img - low)
            img = low
        return [*out, img]

    return sum((a - b).abs().flatten(1).mean(1) for a, b in zip(pyr(x), pyr(y)))


def _imle_reversed(codes, samples):
    idx = torch.cdist(samples, codes).argmin(1)  # each sample's nearest code: the GAN-like direction
    return idx[: codes.shape[0]], (samples - codes[idx]).square().sum(1).mean()


#: Plausible wrong answers: (chapter, exercise number, what, replacements for the solution's functions).
WRONG = [
    ("gan_losses", 1, ".sum() for .mean()", {"d_loss_bce": lambda r, f: F.softplus(-r).sum() + F.softplus(f).sum()}),
    ("gan_losses", 1, "sigmoid then log (not from logits)", {"d_loss_bce": _softplus_free_bce}),
    ("gan_losses", 2, "minimax sign flipped", {"g_loss_minimax": lambda a: F.softplus(a).mean()}),
    ("gan_losses", 2, "non-saturating as log(1 - D)", {"g_loss_nonsaturating": lambda a: -F.softplus(a).mean()}),
    ("gan_losses", 3, "missing detach()", {"discriminator_step": _no_detach_step}),
    ("gan_losses", 4, "G left in train mode", {"fixed_latent_grid": _grid_train_mode}),
    ("gan_losses", 4, "column-major tiling", {"fixed_latent_grid": _grid_column_major}),
    ("inversion", 1, "wrong radius", {"project_to_sphere": lambda z: z / z.norm(dim=1, keepdim=True)}),
    ("inversion", 2, "latents off the sphere", {"invert": _invert_no_prior}),
    ("inversion", 2, "a single start", {"invert": _invert_no_restart_choice}),
    ("restoration", 1, "averaged over the whole batch", {"inpainting_loss": _inpaint_pooled}),
    ("restoration", 1, "missing pixels counted", {"inpainting_loss": _inpaint_all_pixels}),
    ("restoration", 2, "adjoint without 1/factor^2", {"downsample_adjoint": _adjoint_without_scaling}),
    ("flows", 1, "log-det over all coordinates", {"coupling_forward": _coupling_logdet_wrong}),
    ("flows", 1, "inverse in the wrong order", {"coupling_inverse": _coupling_inverse_wrong}),
    ("flows", 2, "+ log|a| (the Jacobian of the wrong direction)", {"affine_log_prob": _affine_plus_log}),
    ("flows", 2, "log a without the absolute value", {"affine_log_prob": _affine_no_abs}),
    ("flows", 4, "log2 256 left out", {"bits_per_dim": lambda lp, d: -lp / (d * math.log(2))}),
    ("flows", 4, "nats, not bits", {"bits_per_dim": lambda lp, d: -lp / d + 8}),
    ("flows", 4, "the sign of log p", {"bits_per_dim": lambda lp, d: lp / (d * math.log(2)) + 8}),
    ("flows", 5, "H W forgotten in the log-det", {"actnorm_forward": _actnorm_no_pixels}),
    ("flows", 6, "the 2x2 offsets in the wrong order", {"squeeze": _squeeze_wrong_order}),
    ("glo", 1, "the unit sphere", {"project_codes": lambda z: z / z.norm(dim=1, keepdim=True)}),
    ("glo", 2, "a level dropped", {"lap1_loss": _lap1_level_dropped}),
    ("glo", 2, "L2 for L1", {"lap1_loss": _lap1_squared}),
    ("glo", 2, "no downsampling", {"lap1_loss": _lap1_no_downsampling}),
    ("glo", 3, "each sample's nearest code", {"imle_match": _imle_reversed}),
    ("saturation", 1, "log D for log(1 - D)", {"generator_gradients": _gradients_sign}),
    ("saturation", 2, "the ratio upside down", {"gradient_ratio": lambda a: torch.exp(-a)}),
    (
        "saturation",
        2,
        "the quotient as written",
        {"gradient_ratio": lambda a: torch.sigmoid(a) / (1 - torch.sigmoid(a))},
    ),
    ("stabilisers", 1, "the real term's sign", {"hinge_losses": _hinge_sign}),
    ("stabilisers", 1, ".sum() for .mean()", {"hinge_losses": _hinge_sum}),
    ("stabilisers", 1, "G's loss with a margin", {"hinge_losses": _hinge_g_with_margin}),
    (
        "stabilisers",
        2,
        "the Frobenius norm",
        {"spectral_norm_estimate": lambda w, u, iters=1: (w.norm(), u / u.norm())},
    ),
    ("stabilisers", 2, "v not normalised", {"spectral_norm_estimate": _sn_unnormalised_v}),
    ("stabilisers", 3, "no warm-up", {"ema_update": _ema_no_warmup}),
    ("stabilisers", 3, "beta and 1 - beta swapped", {"ema_update": _ema_swapped}),
    ("stabilisers", 4, "no create_graph", {"r1_penalty": _r1_no_graph}),
    ("stabilisers", 4, "mean over the pixels", {"r1_penalty": _r1_pixel_mean}),
    ("minimax", 1, "swapped axes", {"pure_values": _pure_values_swapped}),
    ("minimax", 2, "no 0 log 0 guard", {"gan_value": _value_no_guard}),
    ("minimax", 2, "D* with p_g on top", {"optimal_d": _optimal_d_swapped}),
]


def test_every_coded_exercise_has_a_planted_wrong_answer() -> None:
    assert {(e.chapter, e.number) for e in CODED} <= {(c, n) for c, n, _, _ in WRONG}


@pytest.mark.parametrize("chapter,number,what,replace", WRONG, ids=[w[2] for w in WRONG])
def test_wrong_answers_fail_their_check(chapter: str, number: int, what: str, replace: dict) -> None:
    solution = load_module(chapter, solutions=True)
    wrong = types.ModuleType(f"wrong_{chapter}")
    wrong.__dict__.update({k: v for k, v in vars(solution).items() if not k.startswith("__")})
    wrong.__dict__.update(replace)
    outcome = next(o for o in check_chapter(chapter, wrong) if o.exercise.number == number)
    assert outcome.status == "failed", f"{what} passed the check of {chapter} {number}"
    assert outcome.message and len(outcome.message.splitlines()) <= 2


def test_every_exercise_has_its_hebrew_title_and_task() -> None:
    from companion.exercises.hebrew import HEBREW

    assert set(HEBREW) == {(e.chapter, e.number) for e in EXERCISES}
    for e in EXERCISES:
        title, task = HEBREW[(e.chapter, e.number)]
        assert title and any("\u0590" <= c <= "\u05ff" for c in title), (e.chapter, e.number)
        assert bool(task) == (not e.coded), (e.chapter, e.number)  # open exercises have their task in Hebrew too


def test_cli_list_and_check(capsys) -> None:
    assert main(["exercises", "list"]) == 0
    out = capsys.readouterr().out
    assert "1. GAN losses" in out and "write d_loss_bce()" in out and "open: an experiment" in out
    assert main(["exercises", "check", "minimax", "--solutions"]) == 0
    assert "all passed" in capsys.readouterr().out
    assert main(["exercises", "check", "minimax"]) == 1
    out = capsys.readouterr().out
    assert out.count("todo") == 2 and "Traceback" not in out


def test_cli_reports_a_broken_answer_in_one_line(tmp_path: Path, capsys) -> None:
    text = (stub_dir() / "minimax.py").read_text()
    text = text.replace("    raise NotImplementedError", "    return 1 / 0", 1)  # pure_values crashes
    (tmp_path / "minimax.py").write_text(text)
    assert main(["exercises", "check", "minimax", "--dir", str(tmp_path)]) == 1
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("FAIL")]
    assert len(lines) == 1 and "ZeroDivisionError" in lines[0] and "minimax.py:" in lines[0]


def test_cli_unknown_chapter_and_unimportable_file(tmp_path: Path, capsys) -> None:
    assert main(["exercises", "check", "chapter9"]) == 2
    assert "unknown chapter 'chapter9'" in capsys.readouterr().err
    (tmp_path / "flows.py").write_text("def coupling_forward(:\n")
    assert main(["exercises", "check", "flows", "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "does not import" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("chapter", list(CHAPTERS))
def test_page_fragments_are_generated_from_the_table(chapter: str) -> None:
    from companion.exercises.pages import DOCS, page_fragment

    assert (DOCS / f"{chapter}.md").read_text() == page_fragment(chapter), (
        "docs/exercises/ drifted: run python -m companion.exercises.pages"
    )
    assert (DOCS / f"{chapter}.he.md").read_text() == page_fragment(chapter, "he"), (
        "docs/exercises/ (Hebrew) drifted: run python -m companion.exercises.pages"
    )
    text = page_fragment(chapter)
    for ex in (e for e in EXERCISES if e.chapter == chapter and e.coded):
        assert f"Solution to {ex.number}" in text

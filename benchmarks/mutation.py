"""Mutation testing: plant plausible bugs one at a time, see the tests go red.

Covered: the losses, the theory, the stabilisers, the image convention and image files, the
metrics (FID, classes covered, PSNR), the divergence guard, and what the commands write.

Each mutant is a one-place edit a careful person could make by mistake (a sign, a ``.sum()`` for
a ``.mean()``, a swapped axis, a dropped factor, a guard removed, the wrong triangle). For each,
the file is edited, the tests that guard it run (``pytest -x -q``), and the file is restored:

* killed: the tests failed, so they would have caught the bug;
* survived: the tests still pass; each survivor is either an equivalent mutant (explained in
  `EQUIVALENT`) or a missing test.

Not part of CI (tens of minutes for all): run it after touching a file in `GUARDS`, at least the
mutants of that file (``--file``). The last result goes into the note of the change.

    python benchmarks/mutation.py            # all mutants
    python benchmarks/mutation.py --only 3   # one of them, by number
    python benchmarks/mutation.py --file companion/pixels.py   # the mutants of one file
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Which tests guard which file.
GUARDS = {
    "companion/losses.py": ["tests/test_losses.py", "tests/test_theory_saturation.py"],
    "companion/theory/saturation.py": ["tests/test_theory_saturation.py"],
    "companion/theory/minimax.py": ["tests/test_theory_minimax.py"],
    "companion/theory/flows.py": ["tests/test_theory_flows.py"],
    "companion/stabilisers.py": ["tests/test_stabilisers.py"],
    "companion/pixels.py": ["tests/test_pixels.py", "tests/test_commands.py"],
    "companion/imageio.py": ["tests/test_pixels.py", "tests/test_commands.py"],
    "companion/observed.py": ["tests/test_pixels.py", "tests/test_commands.py"],
    "companion/metrics.py": ["tests/test_metrics.py"],
    "companion/loop.py": ["tests/test_engine.py"],
    "companion/experiment.py": ["tests/test_commands.py"],
    "companion/train.py": [
        "tests/test_commands.py",
        "tests/test_train.py::test_gan_step_does_exactly_the_work_of_one_alternating_step",
    ],
    "companion/cli/common.py": ["tests/test_commands.py"],
    "companion/cli/gan.py": ["tests/test_commands.py", "tests/test_cli.py"],
    "companion/cli/inversion.py": ["tests/test_commands.py"],
    "companion/cli/restoration.py": ["tests/test_commands.py", "tests/test_cli.py", "tests/test_priors.py"],
    "companion/density.py": ["tests/test_glow.py"],
    "companion/flowtrain.py": ["tests/test_glow.py", "tests/test_distributed.py"],
    "companion/models/glow.py": ["tests/test_glow.py"],
    "companion/models/report28.py": ["tests/test_models.py"],
    "companion/ood.py": ["tests/test_ood.py"],
    "companion/glo.py": ["tests/test_glo.py"],
    "companion/latent_samplers.py": ["tests/test_glo.py"],
    "companion/priors.py": ["tests/test_priors.py"],
    "companion/inversion.py": ["tests/test_priors.py", "tests/test_inversion.py"],
    "companion/bookmodels.py": ["tests/test_bookmodels.py"],
    "companion/chapters/compare_draw.py": ["tests/test_chapters.py::test_compare_chapter"],
    "companion/chapters/compare_work.py": ["tests/test_chapters.py::test_compare_chapter"],
    "companion/coverage.py": ["tests/test_coverage.py"],
}

L, S, M, F, ST = (
    "companion/losses.py",
    "companion/theory/saturation.py",
    "companion/theory/minimax.py",
    "companion/theory/flows.py",
    "companion/stabilisers.py",
)
PX, IO, OB, ME, LO = (
    "companion/pixels.py",
    "companion/imageio.py",
    "companion/observed.py",
    "companion/metrics.py",
    "companion/loop.py",
)
DE, GW, OO, GL, LS = (
    "companion/density.py",
    "companion/models/glow.py",
    "companion/ood.py",
    "companion/glo.py",
    "companion/latent_samplers.py",
)
EX, TR, CC, CG, CI, CR = (
    "companion/experiment.py",
    "companion/train.py",
    "companion/cli/common.py",
    "companion/cli/gan.py",
    "companion/cli/inversion.py",
    "companion/cli/restoration.py",
)

#: (file, text to replace (must occur exactly once), replacement, what the bug is)
MUTANTS: list[tuple[str, str, str, str]] = [
    # --- losses -------------------------------------------------------------------------------------
    (L, "return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()",
     "return F.softplus(real_logits).mean() + F.softplus(fake_logits).mean()", "BCE D: sign of the real term"),
    (L, "return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()",
     "return F.softplus(-real_logits).mean() + F.softplus(-fake_logits).mean()", "BCE D: sign of the fake term"),
    (L, "return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()",
     "return F.softplus(-real_logits).sum() + F.softplus(fake_logits).mean()", "BCE D: sum for mean (real)"),
    (L, "return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()",
     "return F.softplus(-real_logits).mean() + F.softplus(fake_logits).sum()", "BCE D: sum for mean (fake)"),
    (L, "return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()",
     "return F.softplus(-fake_logits).mean() + F.softplus(real_logits).mean()", "BCE D: real and fake swapped"),
    (L, "return -F.softplus(fake_logits).mean()", "return F.softplus(fake_logits).mean()", "minimax G: sign"),
    (L, "return -F.softplus(fake_logits).mean()", "return -F.softplus(-fake_logits).mean()",
     "minimax G: log D instead of log(1 - D)"),
    (L, "return -F.softplus(fake_logits).mean()", "return -F.softplus(fake_logits).sum()", "minimax G: sum for mean"),
    (L, "    return F.softplus(-fake_logits).mean()\n", "    return F.softplus(fake_logits).mean()\n",
     "non-saturating G: sign of the logit"),
    (L, "    return F.softplus(-fake_logits).mean()\n", "    return F.softplus(-fake_logits).sum()\n",
     "non-saturating G: sum for mean"),
    (L, "return 0.5 * (real_logits - 1).square().mean() + 0.5 * fake_logits.square().mean()",
     "return (real_logits - 1).square().mean() + 0.5 * fake_logits.square().mean()", "LSGAN D: factor 1/2 dropped"),
    (L, "return 0.5 * (real_logits - 1).square().mean() + 0.5 * fake_logits.square().mean()",
     "return 0.5 * (real_logits + 1).square().mean() + 0.5 * fake_logits.square().mean()", "LSGAN D: real target -1"),
    (L, "return 0.5 * (real_logits - 1).square().mean() + 0.5 * fake_logits.square().mean()",
     "return 0.5 * (real_logits - 1).square().mean() + 0.5 * (fake_logits - 1).square().mean()",
     "LSGAN D: fake target 1"),
    (L, "return 0.5 * (real_logits - 1).square().mean() + 0.5 * fake_logits.square().mean()",
     "return 0.5 * (fake_logits - 1).square().mean() + 0.5 * real_logits.square().mean()",
     "LSGAN D: real and fake swapped"),
    (L, "return 0.5 * (fake_logits - 1).square().mean()", "return 0.5 * fake_logits.square().mean()",
     "LSGAN G: target 0 instead of 1"),
    (L, "return 0.5 * (fake_logits - 1).square().mean()", "return 0.5 * (fake_logits - 1).square().sum()",
     "LSGAN G: sum for mean"),
    (L, 'GANLoss("minimax", bce_discriminator_loss, minimax_generator_loss, torch.sigmoid)',
     'GANLoss("minimax", bce_discriminator_loss, nonsaturating_generator_loss, torch.sigmoid)',
     "registry: minimax runs the non-saturating loss"),
    (L, 'GANLoss("lsgan", lsgan_discriminator_loss, lsgan_generator_loss, _identity)',
     'GANLoss("lsgan", lsgan_discriminator_loss, lsgan_generator_loss, torch.sigmoid)',
     "registry: LSGAN's score through a sigmoid"),
    # --- saturation (SymPy) -----------------------------------------------------------------------------
    (S, '"minimax": (sp.log(1 - s), sp.log(1 - D)),', '"minimax": (sp.log(s), sp.log(1 - D)),',
     "minimax: log D for log(1 - D)"),
    (S, '"nonsaturating": (-sp.log(s), -sp.log(D)),', '"nonsaturating": (sp.log(s), -sp.log(D)),',
     "non-saturating: sign"),
    (S, "chain = sp.simplify(sp.diff(loss_D, D) * D * (1 - D))", "chain = sp.simplify(sp.diff(loss_D, D) * D)",
     "chain rule: dD/da = D instead of D(1 - D)"),
    (S, 'rejected = Regime(r"\\lim_{a \\to -\\infty}", sp.limit(grad, a, -sp.oo))',
     'rejected = Regime(r"\\lim_{a \\to -\\infty}", sp.limit(grad, a, sp.oo))', "limit taken at the wrong end"),
    (S, 'rejected = Regime("a = 0", grad.subs(a, 0))', 'rejected = Regime("a = 0", grad.subs(a, 1))',
     "LSGAN: evaluated at the real target"),
    (S, '"lsgan": ((a - 1) ** 2 / 2, None),', '"lsgan": ((a - 1) ** 2, None),', "LSGAN: factor 1/2 dropped"),
    (S, '{chain} | {cell(d.rejected)} | "\n            f"{cell(d.fooled)} |"',
     '{chain} | {cell(d.fooled)} | "\n            f"{cell(d.rejected)} |"', "LaTeX table: regime columns swapped"),
    (S, "return 1 / (1 + sp.exp(-x))", "return 1 / (1 + sp.exp(x))", "sigmoid with the wrong sign"),
    # --- min and max ------------------------------------------------------------------------------------
    (M, "return float(payoff.min(axis=1).max()), float(payoff.max(axis=0).min())",
     "return float(payoff.min(axis=0).max()), float(payoff.max(axis=0).min())", "max-min over the wrong axis"),
    (M, "return float(payoff.min(axis=1).max()), float(payoff.max(axis=0).min())",
     "return float(payoff.min(axis=1).max()), float(payoff.max(axis=1).min())", "min-max over the wrong axis"),
    (M, "t2 = torch.where(p_g > 0, p_g * (1 - d).log(), torch.zeros_like(d))", "t2 = p_g * (1 - d).log()",
     "value: 0 log 0 guard removed"),
    (M, "t1 = torch.where(p_data > 0, p_data * d.log(), torch.zeros_like(d))",
     "t1 = torch.where(p_data > 0, p_data * (1 - d).log(), torch.zeros_like(d))", "value: log(1 - D) on data"),
    (M, "return torch.where(total > 0, p_data / total.clamp_min(1e-300), torch.full_like(total, 0.5))",
     "return torch.where(total > 0, p_g / total.clamp_min(1e-300), torch.full_like(total, 0.5))",
     "D* = p_g / (p_data + p_g)"),
    (M, "return 0.5 * kl(p, m) + 0.5 * kl(q, m)", "return kl(p, m) + kl(q, m)", "JS without the 1/2"),
    (M, "m = (p + q) / 2", "m = p + q", "JS: mixture not halved"),
    (M, "        p[idx[0]] = 1.0\n", "        p[idx[-1]] = 1.0\n", "tie-break 'first' takes the last"),
    (M, "return d >= top - rtol * top.abs()", "return d <= d.min() + rtol * top.abs()",
     "best response on argmin D"),
    (M, "p_g = best_response_generator(torch.sigmoid(u.detach()))",
     "p_g = best_response_generator(torch.zeros_like(u))", "best-response play ignores D"),
    (M, "phi = (problem.p_data * (m.log() + torch.nn.functional.logsigmoid(v))).sum() + torch.log1p(-m)",
     "phi = (problem.p_data * (m.log() + torch.nn.functional.logsigmoid(v))).sum() + torch.log1p(m)",
     "inner min: log(1 + max D)"),
    (M, "        c.backward()\n", "        (-c).backward()\n", "min over G done as a max"),
    (M, "        (-v).backward()\n        opt_d.step()", "        v.backward()\n        opt_d.step()",
     "D descends instead of ascending in gradient play"),
    # --- flows --------------------------------------------------------------------------------------------
    (F, "return float(torch.triu(matrix, 1).abs().max())", "return float(torch.tril(matrix, -1).abs().max())",
     "off-triangle check on the wrong triangle"),
    (F, "return float(torch.triu(matrix, 1).abs().max())", "return float(torch.triu(matrix, 0).abs().max())",
     "off-triangle check includes the diagonal"),
    (F, "order = torch.cat([layer.identity_features, layer.transform_features])",
     "order = torch.cat([layer.transform_features, layer.identity_features])", "coupling order reversed"),
    (F, "m = torch.arange(dim) % 2 == i % 2", "m = torch.arange(dim) % 2 == 0", "coupling masks do not alternate"),
    (F, "_, upper = layer._create_lower_upper()", "upper, _ = layer._create_lower_upper()",
     "LU log-det from L's (unit) diagonal"),
    (F, "return int((s > rtol * s.max()).sum()), s", "return int((s >= 0).sum()), s",
     "rank counts every singular value"),
    (F, "return float(torch.exp(-sq / (2 * h * h)).mean() / (2 * math.pi * h * h) ** (d / 2))",
     "return float(torch.exp(-sq / (2 * h * h)).mean() / (2 * math.pi * h * h) ** d)", "KDE normaliser power"),
    (F, "return float(dens.sum() * h * h)", "return float(dens.sum() * h)", "grid integral: area element h"),
    (F, "dense.append(log_base + torch.linalg.slogdet(J)[1])", "dense.append(log_base + torch.linalg.slogdet(J)[0])",
     "slogdet: the sign taken for the log"),
    (F, "loss = -flow.log_prob(data[idx]).mean()", "loss = flow.log_prob(data[idx]).mean()",
     "training maximises the NLL"),
    (F, "logdet = float(torch.diagonal(m).abs().log().sum())", "logdet = float(torch.diagonal(m).log().sum())",
     "log of the signed diagonal"),
    # --- hinge loss and the stabilisers (chapter 4) -------------------------------------------------------
    (L, "return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()",
     "return F.relu(1 + real_logits).mean() + F.relu(1 + fake_logits).mean()", "hinge D: sign of the real term"),
    (L, "return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()",
     "return F.relu(1 - real_logits).mean() + F.relu(1 - fake_logits).mean()", "hinge D: sign of the fake term"),
    (L, "return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()",
     "return F.relu(1 - real_logits).sum() + F.relu(1 + fake_logits).mean()", "hinge D: sum for mean"),
    (L, "return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()",
     "return F.relu(-real_logits).mean() + F.relu(fake_logits).mean()", "hinge D: margin dropped"),
    (L, "    return -fake_logits.mean()", "    return fake_logits.mean()", "hinge G: sign"),
    (L, "    return -fake_logits.mean()", "    return F.relu(1 - fake_logits).mean()", "hinge G: hinged too"),
    (ST, "return min(self.decay, (1 + step) / (10 + step))", "return self.decay", "EMA: no warm-up"),
    (ST, "return min(self.decay, (1 + step) / (10 + step))", "return min(self.decay, step / (10 + step))",
     "EMA: warm-up off by one"),
    (ST, "avg.lerp_(p.detach(), 1 - beta)", "avg.lerp_(p.detach(), beta)", "EMA: beta and 1 - beta swapped"),
    (ST, "return 0.5 * grad.float().square().flatten(1).sum(1).mean()", "return 0.5 * grad.float().square().mean()",
     "R1: mean over pixels for the squared norm"),
    (ST, "return 0.5 * grad.float().square().flatten(1).sum(1).mean()",
     "return grad.float().square().flatten(1).sum(1).mean()", "R1: the factor 1/2 dropped"),
    (ST, "(grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)",
     "(grad,) = torch.autograd.grad(out.sum(), x, create_graph=False)", "R1: not differentiable in D"),
    (ST, "if isinstance(child, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):",
     "if isinstance(child, (nn.Conv2d, nn.ConvTranspose2d)):", "spectral norm skips linear layers"),
    # --- the image convention and image files (issue 20) ----------------------------------------------------
    (PX, "    if t.dtype == torch.uint8:\n        return t\n", "    t = t.float()\n",
     "to_uint8 scales uint8 again (the sample bug: thresholded digits)"),
    (PX, ".clamp(0, 1).mul_(255).round_()", ".clamp(0, 1).mul_(255)", "to_uint8 truncates instead of rounding"),
    (PX, ".clamp(0, 1).mul_(255).round_()", ".mul_(255).round_()", "to_uint8 without the clamp (wraps around)"),
    (PX, "return t.float().div_(255) if t.dtype == torch.uint8 else t.float()",
     "return t.float().div_(256) if t.dtype == torch.uint8 else t.float()", "to_unit divides by 256"),
    (PX, "return t.float().div_(255) if t.dtype == torch.uint8 else t.float()", "return t.float()",
     "to_unit leaves uint8 unscaled"),
    (IO, "arr = to_uint8(array).cpu().numpy() if as_images else array.detach().float().cpu().numpy()",
     "arr = array.detach().float().cpu().numpy()", "write_npy stores images as floats"),
    (IO, "return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)",
     "return arr[None] if arr.ndim == 2 else arr.transpose(2, 1, 0)", "colour PNG read with H and W swapped"),
    (OB, "pil = Image.fromarray(im[0] if im.shape[0] == 1 else im.transpose(1, 2, 0))",
     "pil = Image.fromarray(im[0].T.copy() if im.shape[0] == 1 else im.transpose(1, 2, 0))",
     "PNG output transposed"),
    (OB, 'written.append(write_npy(y, out / "observed.npy", as_images=False))',
     'written.append(write_npy(y, out / "observed.npy"))', "degrade --format npy quantises the observation"),
    # --- metrics --------------------------------------------------------------------------------------------
    (ME, "return 10 * torch.log10(1 / mse)", "return 20 * torch.log10(1 / mse)", "PSNR: 20 log10 for 10 log10"),
    (ME, "mse = (x.float() - y.float()).square().flatten(1).mean(1).clamp_min(1e-12)",
     "mse = (x.float() - y.float()).square().flatten(1).sum(1).clamp_min(1e-12)", "PSNR: sum for mean"),
    (ME, "mse = (x.float() - y.float()).square().flatten(1).mean(1).clamp_min(1e-12)",
     "mse = (x.float() - y.float()).square().mean().expand(x.shape[0]).clamp_min(1e-12)",
     "PSNR of the batch's MSE, not per image"),
    (ME, '"modes": int((p >= COVERAGE_MIN_SHARE).sum()),', '"modes": int((p > COVERAGE_MIN_SHARE).sum()),',
     "coverage: > for >= at the threshold"),
    (ME, "kl = float((p[p > 0] * (p[p > 0] * num_classes).log()).sum())",
     "kl = float((p[p > 0] * p[p > 0].log()).sum())", "class KL against 1 instead of uniform"),
    (ME, "            x = to_unit(x)\n            if self.features",
     "            x = x.float()\n            if self.features", "FID: uint8 images fed unscaled"),
    (ME, "        return self.classifier.features(x.float())", "        return self.classifier(x.float())[:, :1]",
     "FID on the wrong layer (a logit)"),
    (ME, "        x = real[i * n : (i + 1) * n]", "        x = real[:n]", "FID floor: the same set every time"),
    # --- the divergence guard -------------------------------------------------------------------------------
    (LO, "(losses.abs() > self.max_abs).any(1)", "(losses.abs() > self.max_abs).all(1)",
     "guard: every loss must blow up (a D certain of everything hides G's)"),
    (LO, "return self._verdict(min(self.patience, max(1, math.ceil(steps / 2))))",
     "return self._verdict(self.patience)", "guard: no end-of-epoch verdict for short runs"),
    (LO, "        for name in self.finite:\n", "        for name in ():\n", "guard: gradient norm never checked"),
    # --- what the commands write ----------------------------------------------------------------------------
    (CG, "    write_npy(images, args.out)  #", "    write_npy(images.float(), args.out)  #",
     "sample: uint8 handed on as floats (rescaled)"),
    (CG, "    write_npy(images, args.out)  #", "    write_npy(images // 128 * 255, args.out)  #",
     "sample: thresholded"),
    (CG, "    write_npy(images, args.out)  #", "    write_npy(images.transpose(2, 3), args.out)  #",
     "sample: transposed"),
    (CG, "images = generate(G, cfg.n, spec.latent_dim, cfg.seed, device=device,",
     "images = generate(G, cfg.n, spec.latent_dim, cfg.seed + 1, device=device,", "sample: off by one seed"),
    (CG, "G, spec, _ = load_generator(args.checkpoint, device)",
     "G, spec, _ = load_generator(args.checkpoint, device, ema=False)", "sample: the raw G of an EMA run"),
    (EX, "else torch.randn(k, latent_dim, generator=g)", "else torch.rand(k, latent_dim, generator=g)",
     "generate: uniform latents"),
    (TR, "images = to_uint8(self.sample_fixed()).numpy()",
     "images = to_uint8(self.sample_fixed().transpose(2, 3)).numpy()", "fixed batch transposed"),
    (CI, "    write_npy(recon, out)\n", "    write_npy(x, out)\n", "invert: writes its input"),
    (CI, "    write_npy(z, z_out, as_images=False)\n", "    write_npy(z, z_out)\n", "invert: latents quantised"),
    (CC, "f\"PSNR (mean of per-image values) {float(p.mean()):.2f} dB",
     "f\"PSNR (mean of per-image values) {float(p.median()):.2f} dB", "the printed mean is the median"),
    (CR, "    write_like(res.images, outs[0], names)\n", "    write_like(op.view(y), outs[0], names)\n",
     "restore: writes the observation"),
    (CR, "            write_like(op.view(y), outs[1], None)\n", "            write_like(res.images, outs[1], None)\n",
     "restore --clean: degraded file from the restoration"),
    (CR, "    y = op.degrade(x, seed=cfg.seed)\n    written",
     "    y = op.degrade(x, seed=cfg.seed + 1)\n    written", "degrade: off by one seed"),
    (CR, "        y = op.degrade(x, seed=cfg.seed)\n        names",
     "        y = op.degrade(x, seed=cfg.seed + 1)\n        names", "restore --clean: off by one seed"),
    # --- the Glow and bits per dimension (issue 22) ---------------------------------------------------------
    (DE, "return -log_prob / (dim * math.log(2)) + 8.0", "return -log_prob / (dim * math.log(2))",
     "bits/dim: the log 256 dropped"),
    (DE, "return -log_prob / (dim * math.log(2)) + 8.0", "return -log_prob / dim + 8.0", "bits/dim in nats"),
    (DE, "    return (images.float() + u) / 256", "    return (images.float() + u) / 255", "dequantised by 255"),
    (DE, "return (x.float() * 256).floor().clamp(0, 255)", "return (x.float() * 256).round().clamp(0, 255)",
     "grey levels rounded, not floored"),
    (DE, "    return total / draws", "    return total", "K draws summed, not averaged"),
    (GW, "logdet = (math.log1p(-2 * self.alpha) - torch.log(s) - torch.log1p(-s)).flatten(1).sum(1)",
     "logdet = (math.log1p(-2 * self.alpha) + torch.log(s) + torch.log1p(-s)).flatten(1).sum(1)",
     "logit: the log-det with the wrong sign"),
    (GW, "logdet = (torch.log(s) + torch.log1p(-s) - math.log1p(-2 * self.alpha)).flatten(1).sum(1)",
     "logdet = (math.log1p(-2 * self.alpha) - torch.log(s) - torch.log1p(-s)).flatten(1).sum(1)",
     "logit inverse: the forward's log-det added instead of subtracted"),
    (GW, "    mask[half:] = 1 if index % 2 == 0 else 0", "    mask[half:] = 1", "coupling masks do not alternate"),
    (GW, "            return self.net(inputs, context).float()", "            return self.net(inputs, context)",
     "bf16 coupling outputs not cast to fp32"),
    (OO, "        ranks[order[i : j + 1]] = (i + j) / 2 + 1", "        ranks[order[i : j + 1]] = i + 1",
     "AUROC: ties not averaged"),
    (OO, 'format="PNG", compress_level=9)', 'format="PNG", compress_level=1)', "PNG at the lowest compression"),
    (OO, "    return bpd.double() - png_bits(images) / dim", "    return bpd.double() + png_bits(images) / dim",
     "complexity correction added"),
    # --- GLO (issue 23) -------------------------------------------------------------------------------------
    (GL, "    out.append(g)\n    return out", "    return out", "Laplacian pyramid: the residual level dropped"),
    (GL, "        g = F.avg_pool2d(low, 2)", "        g = low", "Laplacian pyramid: no downsampling"),
    (GL, "return sum((a - b).abs().flatten(1).mean(1) for a, b in pairs)",
     "return sum((a - b).square().flatten(1).mean(1) for a, b in pairs)", "Lap1: L2 for L1"),
    (GL, "kernel = (k[:, None] * k[None, :] / 256)", "kernel = (k[:, None] * k[None, :] / 16)", "blur not normalised"),
    (GL, "return z * (math.sqrt(z.shape[1]) / norm.clamp_min(1e-12))", "return z / norm.clamp_min(1e-12)",
     "codes on the unit sphere"),
    (LS, "return cls(mean, centred.T @ centred / (z.shape[0] - 1))",
     "return cls(mean, centred.T @ centred / z.shape[0])", "covariance divided by N"),
    (LS, "logdet = 2 * chol.diagonal().log().sum()", "logdet = chol.diagonal().log().sum()",
     "Gaussian log-density: log det of the Cholesky factor"),
    (LS, "nearer = value < best", "nearer = value > best",
     "nearest neighbours: a later block of candidates never replaces the first block's pick"),
    # --- the flow prior and the book's models (issues 29, 30) ------------------------------------------------
    ("companion/inversion.py", "per_row = data + cfg.prior_weight * z.square().sum(1)",
     "per_row = data - cfg.prior_weight * z.square().sum(1)", "MAP prior: gamma's sign"),
    ("companion/priors.py", "            x, _ = self.flow._transform.inverse(z)",
     "            x, _ = self.flow._transform(z)", "flow prior: f for f^-1 (the Jacobian's direction)"),
    ("companion/inversion.py", "data = _data_loss(cfg.loss, A(x), y, m)\n        if track",
     "data = _data_loss(cfg.loss, A(A(x)), y, m)\n        if track", "restoration: the operator applied twice"),
    ("companion/priors.py", 'kw["z0"] = self.decoder.encode(op.view(y).clamp(0, 1)).detach()',
     'kw["z0"] = torch.zeros(y.shape[0], self.latent_dim, device=y.device)',
     "flow prior: started at z = 0 instead of the degraded view's code"),
    (LS, 'state["default"] = min(fid, key=fid.get) if fid else "imle"',
     'state["default"] = max(fid, key=fid.get) if fid else "imle"', "GLO samplers: the worse one made the default"),
    (LS, '        mapper.load_state_dict(imle["mapper"])\n', "",
     "GLO samplers: the stored IMLE mapper not loaded (an untrained one samples)"),
    (LS, "            weights.append(zj.shape[0] / n)", "            weights.append(1 / k)",
     "GLO mixture: every component the same weight"),
    (LS, "            cov = (scatter + d * glob) / (zj.shape[0] - 1 + d)",
     "            cov = (scatter + d * glob) / (zj.shape[0] + d)", "GLO mixture: the shrunk covariance's denominator"),
    (LS, 'torch.einsum("nij,nj->ni", self.chol[comp], e)', 'torch.einsum("nji,nj->ni", self.chol[comp], e)',
     "GLO mixture: samples drawn with L^T for L (the covariance's wrong square root)"),
    (LS, "torch.logsumexp(comp + self.weights.log()[:, None], dim=0)", "torch.logsumexp(comp, dim=0)",
     "GLO mixture: its density without the weights"),
    (LS, 'reference = load_dataset("mnist", "train", data_dir).images[:10000]',
     'reference = load_dataset("mnist", "test", data_dir).images',
     "GLO samplers: the default chosen on the test digits the book reports"),
    (LS, 'return nn.ReLU() if activation == "relu" else nn.LeakyReLU(0.2)', "return nn.ReLU()",
     "IMLE mapper: ReLUs (a dead region of noise collapses to one code)"),
    ("companion/metrics.py", "amax(1) < BLANK_GREY", "amax(1) <= BLANK_GREY",
     "blank samples: a stroke at grey level 32 counted as blank"),
    ("companion/priors.py", "key=lambda key: (abs(math.log(level / key[1])), key[1])",
     "key=lambda key: (abs(level - key[1]), key[1])", "flow gamma: nearest tuned level by difference, not ratio"),
    ("companion/priors.py", "if where is not None and key[0] == where[0]]", "if where is not None]",
     "flow gamma: a tuned value of another kind of degradation"),
    ("companion/priors.py", 'return ("inpaint", round(1.0 - float(op.mask.float().mean()), 4))',
     'return ("inpaint", round(float(op.mask.float().mean()), 4))', "degradation: share known for share missing"),
    ("companion/chapters/compare_draw.py", '"glow": "- **{t}**: הפריור של ה-Glow טוב יותר',
     '"glow": "- **{t}**: הפריור של ה-GAN טוב יותר', "comparison verdict, Hebrew: the winner misnamed"),
    ("companion/chapters/compare_draw.py", 'key, m, lo, hi = "glow", f"{d[\'mean\']:.2f}"',
     'key, m, lo, hi = "gan", f"{d[\'mean\']:.2f}"', "comparison verdict: a Glow win called the GAN\'s"),
    ("companion/cli/restoration.py", 'line += f"; prior weight {cfg.prior_weight:g}',
     'line += f"; prior weight {prior.settings.prior_weight:g}', "restore: the flow\'s default weight reported"),
    ("companion/bookmodels.py", "    if file_digest(weights) != man.get(\"sha256\"):",
     "    if False:", "book models: the digest not checked"),
    ("companion/models/report28.py", "w = last.weight[:, :, 1:4, 1:4]", "w = last.weight[:, :, 0:3, 0:3]",
     "report D: the last convolution's dot product with the kernel's corner, not its inner 3x3"),
    ("companion/models/report28.py", "@ w.permute(0, 2, 3, 1).reshape(self.latent_dim, -1)",
     "@ w.permute(0, 3, 2, 1).reshape(self.latent_dim, -1)", "report G: the first layer's rows and columns swapped"),
    ("companion/models/report28.py", "@ w.permute(2, 3, 1, 0).reshape(-1, 1)", "@ w.permute(1, 2, 3, 0).reshape(-1, 1)",
     "report D: the dot product's weights in channels-first order against channels-last features"),
    (TR, "        self.D.requires_grad_(False)\n", "",
     "GAN trainer: D's weight gradients computed in the G step too (wasted work, the report loop's)"),
    (TR, "fake_logits = D(fake.detach()).float()", "fake_logits = D(fake).float()",
     "GAN trainer: the fake not detached in the D step (G's graph traversed for nothing)"),
    # --- precision and recall; IMLE's step; the comparison's samples cache (issue 30) ----------------------------
    ("companion/coverage.py", "kthvalue(k + 1, dim=1)", "kthvalue(k, dim=1)",
     "k-NN radius: the point's zero distance to itself counted as a neighbour"),
    ("companion/coverage.py", "precision = _inside(fake, real, knn_radii(real, k, chunk), chunk)",
     "precision = _inside(fake, real, knn_radii(fake, k, chunk), chunk)", "precision: the fake set's radii"),
    ("companion/coverage.py", "(torch.cdist(p, centres) <= radii[None]).any(1)",
     "(torch.cdist(p, centres) <= radii[None]).all(1)", "precision/recall: inside every ball, not some ball"),
    ("companion/coverage.py", '"recall": float(recall.double().mean())', '"recall": float(precision.double().mean())',
     "recall reported as the precision"),
    (LS, "loss = (mapper(e_nn[start : start + b])", "loss = (mapper(e[start : start + b])",
     "IMLE: the first candidates pulled, not each code's nearest"),
    (LS, "e_nn = e[nearest_neighbours(zs, pool)]", "e_nn = e[nearest_neighbours(pool, zs)]",
     "IMLE: matched from the samples to the codes (the direction that drops modes)"),
    ("companion/chapters/compare_work.py", "key = content_key(model=_fp(pr), samplers=_samplers_fp(pr, ref),",
     "key = content_key(model=_fp(pr),", "comparison: the samples cache blind to refitted GLO samplers"),
    # --- IMLE with a pool shared by several batches (issue 30) --------------------------------------------------
    (LS, "    m = cfg.match_size or b\n", "    m = b\n", "IMLE: match_size ignored, every batch its own pool"),
    (LS, "            for start in range(0, zs.shape[0], b):", "            for start in range(0, b, b):",
     "IMLE: one step per shared pool, the other batches' pairs dropped"),
    (LS, "                if sched is not None:\n                    sched.step()\n", "",
     "IMLE: the cosine schedule never steps (a constant learning rate)"),
    (LS, "sum((min(m, n - first) // b) for first", "sum(1 for first",
     "IMLE: the cosine schedule's length counted in pools, not steps"),
]  # fmt: skip

#: Mutants that cannot change any result, with the reason (none at present).
EQUIVALENT: dict[int, str] = {
    50: "every triangular layer nflows builds has a positive diagonal (coupling and MAF scales are "
    "sigmoid(s + 2) + 1e-3 or exp(s); nflows' own affine transforms refuse a scale <= 0), so log|d| = log d "
    "on every input layer_jacobians can receive; the abs() is kept for layers that could flip an axis",
}


def run_tests(tests: list[str]) -> bool:
    """True when the tests pass."""
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    return r.returncode == 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", type=int, nargs="*", help="mutant numbers (1-based)")
    p.add_argument("--file", help="only the mutants of this file (a key of GUARDS)")
    p.add_argument("--json", type=Path, help="also write the report here")
    args = p.parse_args()
    chosen = args.only or list(range(1, len(MUTANTS) + 1))
    if args.file:
        chosen = [k for k in chosen if MUTANTS[k - 1][0] == args.file]
    for path in sorted({MUTANTS[k - 1][0] for k in chosen}):
        if not run_tests(GUARDS[path]):
            print(f"the unmutated tests for {path} fail: fix them first")
            return 2
    results = []
    t0 = time.perf_counter()
    for k in chosen:
        path, old, new, what = MUTANTS[k - 1]
        file = ROOT / path
        text = file.read_text()
        if text.count(old) != 1:
            print(f"#{k:2d} {what}: the text to mutate occurs {text.count(old)} times in {path}; update the table")
            return 2
        file.write_text(text.replace(old, new))
        try:
            killed = not run_tests(GUARDS[path])
        finally:
            file.write_text(text)
        status = "killed" if killed else ("equivalent" if k in EQUIVALENT else "SURVIVED")
        results.append({"mutant": k, "file": path, "bug": what, "status": status})
        print(f"#{k:2d} {status:<10} {path}: {what}", flush=True)
    killed = sum(r["status"] == "killed" for r in results)
    survived = [r for r in results if r["status"] == "SURVIVED"]
    print(
        f"\n{killed} of {len(results)} mutants killed ({killed / len(results):.0%}); "
        f"{len(results) - killed - len(survived)} equivalent; {len(survived)} survived; "
        f"{time.perf_counter() - t0:.0f} s"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0 if not survived else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""The prior interface (`companion.priors`): a Glow as a prior for inversion and restoration, beside the GAN.

The flow prior's objective is checked against a hand computation and by planted mistakes
(gamma's sign, the Jacobian direction, the measurement applied twice: see benchmarks/mutation.py);
the commands' outputs against the library's, by value.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from companion.cli import main
from companion.imageio import write_npy
from companion.inversion import InversionConfig, fit_latent
from companion.priors import FLOW_GAMMA_DEFAULT, FlowDecoder, degradation, flow_gamma, load_prior
from companion.restoration import cli_operator, make_task

FLOW_TINY = ["--dataset", "synthetic", "--depth", "2", "--hidden", "8", "--batch-size", "64", "--eval-images", "64",
             "--device", "cpu", "--precision", "fp32", "--warmup", "10", "--no-progress"]  # fmt: skip


@pytest.fixture(scope="module")
def flow_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("prior") / "flow"
    assert main(["flow", "train", "--out", str(out), "--epochs", "1", *FLOW_TINY]) == 0
    return out / "ckpt.pt"


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from companion.data import make_synthetic

    path = tmp_path_factory.mktemp("prior") / "digits.npy"
    write_npy(make_synthetic(6, seed=11).images, path)
    return path


def test_flow_decoder_inverts_the_flow_exactly(flow_ckpt: Path) -> None:
    prior = load_prior(flow_ckpt)
    assert prior.kind == "flow" and prior.exact and prior.latent_dim == 784
    x = torch.rand(5, 1, 28, 28)
    z = prior.encode(x)
    flow = prior.decoder.flow
    with torch.no_grad():
        # the flow's own forward map at the centre of each pixel's dequantisation bin, (255 x + 1/2) / 256
        z_ref, _ = flow._transform((255 * x + 0.5) / 256)
        z_raw, _ = flow._transform(x)  # control: the pixel itself, as the flow never saw it in training
    assert torch.allclose(z, z_ref.reshape(5, -1))
    assert not torch.allclose(z, z_raw.reshape(5, -1), atol=1e-3)
    with torch.no_grad():
        assert (prior.decoder(z) - x).abs().max() < 1e-4


def test_real_digits_have_typical_codes_under_the_book_flow(real_mnist_dir: Path) -> None:
    """Test digits encode near the flow's typical set (|z| well under 2 sqrt(784) = 56), not far outside it:
    encoded as raw pixels (black = 0, beyond every training input's bin) their codes had norm 127, and MAP
    restoration from such a start overflowed in 20 steps."""
    from companion.data import load_dataset

    prior = load_prior("book:glow-mnist", precision="fp32")
    x = load_dataset("mnist", "test", real_mnist_dir).float_images(slice(0, 64))
    with torch.no_grad():
        norms = prior.encode(x).norm(dim=1)
        raw, _ = prior.decoder.flow._transform(x)
    assert norms.mean() < 28 and norms.max() < 56
    assert raw.flatten(1).norm(dim=1).mean() > 56  # the control: the raw pixels' codes, far outside


def test_flow_prior_objective_is_data_mean_plus_gamma_norm(flow_ckpt: Path) -> None:
    """One Adam step of fit_latent moves z along -grad of mean_i (A f^-1(z) - y)_i^2 + gamma |z|^2 (by hand)."""
    prior = load_prior(flow_ckpt)
    torch.manual_seed(0)
    x = torch.rand(2, 1, 28, 28) * 0.8 + 0.1
    op = cli_operator("cs", 2, (1, 28, 28), sigma=0, mask="box14", factor=2, m=50)
    y = op(x)
    z0 = prior.encode(torch.full_like(x, 0.5))
    gamma = 0.01
    cfg = InversionConfig(steps=1, restarts=1, lr=1e-3, prior="l2", prior_weight=gamma, schedule="none", patience=0)
    res = fit_latent(prior.decoder, y, cfg, operator=op, z0=z0)
    z = z0.clone().requires_grad_(True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pred = op(prior.decoder(z))
    objective = (pred - y).square().flatten(1).mean(1) + gamma * z.square().sum(1)
    (grad,) = torch.autograd.grad(objective.sum(), z)
    # Adam's first step (bias-corrected m = g, v = g^2) is lr * g / (|g| + eps), eps = 1e-8: about
    # lr * sign(g), smaller only where |g| is near eps. Float32 rounding of z (|z| up to ~4) is ~5e-7.
    step = z0 - res.z
    expected = 1e-3 * grad / (grad.abs() + 1e-8)
    assert (step.abs() > 1e-6).float().mean() > 0.9
    assert torch.allclose(step, expected, atol=2e-6, rtol=0)


def test_invert_with_a_flow_is_exact_and_writes_the_code(flow_ckpt: Path, digits: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "r.npy"
    assert main(["invert", "--generator", str(flow_ckpt), "--images", str(digits), "--out", str(out),
                 "--device", "cpu"]) == 0  # fmt: skip
    line = capsys.readouterr().out
    x = torch.from_numpy(np.load(digits)).float() / 255
    prior = load_prior(flow_ckpt)
    assert np.array_equal(np.load(out), np.load(digits))  # exact to the grey level
    assert np.allclose(np.load(tmp_path / "r_z.npy"), prior.encode(x).numpy(), atol=1e-5)
    assert "exact code" in line and float(re.search(r"PSNR .*? ([\d.]+) dB", line).group(1)) > 60


def test_invert_with_a_flow_refuses_an_encoder(flow_ckpt: Path, digits: Path, tmp_path: Path, capsys) -> None:
    assert main(["invert", "--generator", str(flow_ckpt), "--method", "encoder", "--encoder", str(flow_ckpt),
                 "--images", str(digits), "--out", str(tmp_path / "r.npy")]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "inverted exactly" in err and err.count("\n") == 1
    assert not (tmp_path / "r.npy").exists()


@pytest.mark.parametrize(
    "task,extra",
    [("denoise", ["--sigma", "0.2"]), ("inpaint", ["--mask", "box14"]), ("superres", ["--factor", "4"]),
     ("cs", ["--m", "100"])],
)  # fmt: skip
def test_restore_with_a_flow_writes_the_library_restoration(
    flow_ckpt: Path, digits: Path, tmp_path: Path, capsys, task: str, extra: list[str]
) -> None:
    out = tmp_path / "r.npy"
    argv = ["restore", "--generator", str(flow_ckpt), "--task", task, "--clean", str(digits), "--out", str(out),
            "--steps", "12", "--seed", "0", "--device", "cpu", *extra]  # fmt: skip
    assert main(argv) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    prior = load_prior(flow_ckpt)
    x = torch.from_numpy(np.load(digits)).float() / 255
    opts = {"sigma": 0.3, "mask": "box14", "factor": 2, "m": 100}
    for k, v in zip(extra[::2], extra[1::2]):
        opts[k.lstrip("-")] = type(opts[k.lstrip("-")])(v)
    op = cli_operator(task, 6, (1, 28, 28), **opts)
    y = op.degrade(x, seed=0)
    cfg = prior.config(op, steps=12, seed=0)
    assert cfg.prior == "l2" and cfg.restarts == 1 and cfg.prior_weight == flow_gamma(op)[0]
    want = prior.restore(y, op, cfg).images
    assert np.array_equal(np.load(out), (want.clamp(0, 1) * 255).round().to(torch.uint8).numpy())
    assert f"; prior weight {cfg.prior_weight:g} (" in line  # the gamma used, said


def test_restore_with_a_flow_starts_at_the_code_of_the_degraded_view(flow_ckpt: Path) -> None:
    """With no steps the flow prior returns f^-1(f(view(y))) = the degraded view itself: its start."""
    prior = load_prior(flow_ckpt)
    x = torch.rand(3, 1, 28, 28)
    op = cli_operator("inpaint", 3, (1, 28, 28), sigma=0, mask="box14", factor=2, m=1)
    y = op.degrade(x)
    res = prior.restore(y, op, prior.config(op, steps=0))
    assert (res.images - op.view(y).clamp(0, 1)).abs().max() < 1e-4


def test_gan_prior_settings_are_chapter_twos(tmp_path: Path) -> None:
    """A GAN's prior keeps InversionConfig's defaults: the flow's settings do not leak into it."""
    from companion.checkpoint import GAN_FORMAT, save_atomic
    from companion.models import ArchSpec, build_generator

    spec = ArchSpec("report28", 1, 100)
    save_atomic({"format": GAN_FORMAT, "meta": {"arch": spec.to_dict()}, "config": {},
                 "generator": build_generator(spec).state_dict()}, tmp_path / "g.pt")  # fmt: skip
    prior = load_prior(tmp_path / "g.pt")
    assert prior.kind == "gan" and not prior.exact and prior.encode(torch.rand(1, 1, 28, 28)) is None
    assert prior.config(make_task("denoise", 0.1, 1)) == InversionConfig()
    assert prior.config(make_task("cs", 50, 1), steps=7) == InversionConfig(steps=7)


def test_flow_decoder_has_the_flows_dimension() -> None:
    from companion.models.glow import GlowSpec, build_glow

    d = FlowDecoder(build_glow(GlowSpec(steps=1, hidden=4)), (1, 28, 28))
    assert d.latent_dim == 784


@pytest.mark.parametrize(
    "task,option,want",
    [("denoise", 0.3, ("denoise", 0.3)), ("box", 14, ("inpaint", 0.25)), ("half", 0, ("inpaint", 0.5)),
     ("superres", 4, ("superres", 4.0)), ("cs", 300, ("cs", 300.0))],
)  # fmt: skip
def test_degradation_of_each_operator(task: str, option: float, want: tuple[str, float]) -> None:
    """By hand: a 14 x 14 box hides 196 of 784 pixels (0.25); the half mask hides 392 (0.5)."""
    assert degradation(make_task(task, option, 2)) == want


def test_a_dropout_mask_misses_its_share() -> None:
    kind, level = degradation(make_task("dropout", 0.5, 64))
    assert kind == "inpaint" and abs(level - 0.5) < 0.02


TABLE = {("denoise", 0.1): 1e-3, ("denoise", 0.5): 1e-2, ("cs", 50.0): 1e-1, ("cs", 300.0): 1e-4}


@pytest.mark.parametrize(
    "task,option,want",
    [("denoise", 0.1, ("denoise", 0.1)), ("denoise", 0.2, ("denoise", 0.1)),
     # nearest in ratio, not in difference: 0.25 is 2.5x 0.1 but 0.5x 0.5 (by difference 0.1 would win)
     ("denoise", 0.25, ("denoise", 0.5)), ("denoise", 0.9, ("denoise", 0.5)), ("denoise", 0.0, ("denoise", 0.1)),
     ("cs", 100, ("cs", 50.0)), ("cs", 150, ("cs", 300.0)), ("cs", 784, ("cs", 300.0))],
)  # fmt: skip
def test_flow_gamma_takes_the_nearest_tuned_level_of_the_kind(task: str, option: float, want: tuple) -> None:
    assert flow_gamma(make_task(task, option, 2), TABLE) == (TABLE[want], want)


def test_flow_gamma_of_an_untuned_kind_is_the_default() -> None:
    assert flow_gamma(make_task("superres", 4, 2), TABLE) == (FLOW_GAMMA_DEFAULT, None)
    assert flow_gamma(None, TABLE) == (FLOW_GAMMA_DEFAULT, None)


def test_flow_gamma_is_what_the_comparison_chapter_chose() -> None:
    """FLOW_GAMMA holds the gamma the comparison chapter's run chose on its validation digits for each task
    (docs/assets/compare/results.json), keyed by the task's degradation."""
    import json

    from companion.chapters.compare import TASKS
    from companion.priors import FLOW_GAMMA

    results = json.loads((Path(__file__).resolve().parents[1] / "docs/assets/compare/results.json").read_text())
    want = {}
    for cell, (task, option) in TASKS.items():
        kind, level = degradation(make_task(task, option, 100))
        want[(kind, round(level, 2))] = results["gammas"][cell]
    assert FLOW_GAMMA == want

"""Chapter 4's stabilisers against hand computations, and as switches of the one trainer."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from companion.checkpoint import GAN_FORMAT, load_checkpoint
from companion.config import PRESETS, TrainConfig, make_config
from companion.experiment import load_generator, run_training
from companion.stabilisers import EMA, apply_spectral_norm, r1_penalty


def test_spectral_norm_makes_the_largest_singular_value_one() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 8, 3), nn.LeakyReLU(0.2), nn.Linear(8, 4))
    raw = net[0].weight.detach().reshape(8, -1).clone()
    assert float(torch.linalg.matrix_norm(raw, 2)) != pytest.approx(1.0, abs=0.05)  # negative control
    apply_spectral_norm(net)
    x = torch.randn(2, 1, 5, 5)
    for _ in range(30):  # one power iteration per forward in train mode
        net[0](x)
    for layer in (net[0], net[2]):
        w = layer.weight.detach().reshape(layer.weight.shape[0], -1)
        assert float(torch.linalg.matrix_norm(w, 2)) == pytest.approx(1.0, abs=1e-3)
    assert torch.allclose(net[0].weight.detach().reshape(8, -1) * torch.linalg.matrix_norm(raw, 2), raw, atol=1e-4)


def test_r1_penalty_against_hand_computations() -> None:
    w = torch.tensor([[1.0, -2.0], [0.5, 3.0]])

    class Linear(nn.Module):  # D(x) = <w, x>: the gradient is w everywhere
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return (x * w).flatten(1).sum(1)

    x = torch.randn(5, 1, 2, 2)
    assert float(r1_penalty(Linear(), x)) == pytest.approx(0.5 * float(w.square().sum()), rel=1e-6)

    class Square(nn.Module):  # D(x) = |x|^2: the gradient is 2x, the penalty 2 E|x|^2
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.square().flatten(1).sum(1)

    pen = float(r1_penalty(Square(), x).detach())
    assert pen == pytest.approx(2 * float(x.square().flatten(1).sum(1).mean()), rel=1e-6)


def test_r1_penalty_is_differentiable_in_d() -> None:
    lin = nn.Linear(3, 1)
    pen = r1_penalty(lambda x: lin(x).squeeze(1), torch.randn(4, 3))
    pen.backward()
    assert torch.allclose(lin.weight.grad, lin.weight.detach())  # d/dw (1/2 |w|^2) = w


@pytest.mark.parametrize("step", [0, 5, 50_000])
def test_ema_against_a_hand_update(step: int) -> None:
    m = nn.BatchNorm1d(1)
    with torch.no_grad():
        m.weight.fill_(1.0)
    ema = EMA(m, decay=0.9)
    with torch.no_grad():
        m.weight.fill_(3.0)
        m.running_mean.fill_(7.0)
    beta = min(0.9, (1 + step) / (10 + step))  # 0.1, 0.4 (warm-up), 0.9
    ema.update(m, step)
    assert float(ema.module.weight) == pytest.approx(beta * 1 + (1 - beta) * 3)
    w = float(ema.module.weight)
    ema.update(m, step + 1)
    beta = min(0.9, (2 + step) / (11 + step))
    assert float(ema.module.weight) == pytest.approx(beta * w + (1 - beta) * 3)
    assert float(ema.module.running_mean) == 7.0  # buffers are copied, not averaged


def test_ema_warm_up_values() -> None:
    ema = EMA(nn.Linear(1, 1), decay=0.999)
    assert [ema.decay_at(t) for t in (0, 1, 90)] == pytest.approx([0.1, 2 / 11, 0.91])
    assert ema.decay_at(8991) == pytest.approx(0.999) and ema.decay_at(10**6) == 0.999


def tiny(**kw):
    base = dict(dataset="synthetic", epochs=1, batch_size=64, fid_samples=0, device="cpu", n_fixed=8)
    return make_config(None, **{**base, **kw})


@pytest.mark.parametrize(
    "switch",
    [
        {"loss": "hinge"},
        {"spectral_norm": True, "arch": "report28-nobn"},
        {"r1_gamma": 1.0, "r1_every": 4},
        {"ema": 0.99},
        {"lr_d": 4e-4, "lr": 1e-4},
    ],
    ids=["hinge", "spectral-norm", "r1", "ema", "ttur"],
)
def test_each_switch_trains_and_resumes_exactly(tmp_path: Path, switch: dict) -> None:
    run_training(tiny(epochs=2, deterministic=True, **switch), tmp_path / "a", progress=False, render=False)
    run_training(tiny(epochs=1, deterministic=True, **switch), tmp_path / "b", progress=False, render=False)
    run_training(tiny(epochs=2, deterministic=True, **switch), tmp_path / "b", resume=True, explicit={"epochs"},
                 progress=False, render=False)  # fmt: skip
    a = load_checkpoint(tmp_path / "a" / "ckpt.pt", GAN_FORMAT)
    b = load_checkpoint(tmp_path / "b" / "ckpt.pt", GAN_FORMAT)
    for key in ("generator", "discriminator", *(["generator_ema"] if "ema" in switch else [])):
        assert all(torch.equal(a[key][k], b[key][k]) for k in a[key]), key
    if "lr_d" in switch:
        assert a["opt_d"]["param_groups"][0]["lr"] == 4e-4 and a["opt_g"]["param_groups"][0]["lr"] == 1e-4


def test_switches_change_the_training(tmp_path: Path) -> None:
    """Negative control: each switch really changes what is trained (R1 and the hinge loss here)."""
    run_training(tiny(), tmp_path / "base", progress=False, render=False)
    for name, sw in (("r1", {"r1_gamma": 10.0, "r1_every": 1}), ("hinge", {"loss": "hinge"})):
        run_training(tiny(**sw), tmp_path / name, progress=False, render=False)
        a = load_checkpoint(tmp_path / "base" / "ckpt.pt", GAN_FORMAT)["discriminator"]
        b = load_checkpoint(tmp_path / name / "ckpt.pt", GAN_FORMAT)["discriminator"]
        assert any(not torch.equal(a[k], b[k]) for k in a), name


def test_sampling_uses_the_moving_average(tmp_path: Path) -> None:
    run_training(tiny(ema=0.9), tmp_path / "r", progress=False, render=False)
    ck = load_checkpoint(tmp_path / "r" / "ckpt.pt", GAN_FORMAT)
    G, _, _ = load_generator(tmp_path / "r" / "ckpt.pt")
    k = next(k for k, v in ck["generator"].items() if v.is_floating_point())
    assert torch.equal(G.state_dict()[k], ck["generator_ema"][k])
    assert not torch.equal(ck["generator"][k], ck["generator_ema"][k])


def test_better_preset_combines_switches() -> None:
    cfg = make_config("better")
    assert cfg.epochs == 20 and set(PRESETS["better"]) <= set(cfg.__dataclass_fields__)
    assert all(getattr(cfg, k) == v for k, v in PRESETS["better"].items())
    assert cfg.loss != TrainConfig().loss and cfg.ema > 0  # not the report's setup


@pytest.mark.parametrize("bad,match", [({"ema": 1.0}, "ema must lie"), ({"r1_gamma": -1.0}, "r1_gamma must be >= 0")])
def test_bad_stabiliser_settings(bad: dict, match: str) -> None:
    from companion.errors import ConfigError

    with pytest.raises(ConfigError, match=match):
        make_config(None, **bad)

"""The Glow of Part II: each layer's log-determinant against autograd, invertibility, bits/dim by hand, commands."""

from __future__ import annotations

import itertools
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from nflows.distributions.normal import StandardNormal
from nflows.flows.base import Flow
from nflows.transforms.base import CompositeTransform, MultiscaleCompositeTransform
from nflows.transforms.reshape import SqueezeTransform

from companion.cli import main
from companion.density import bits_per_dim, dequantise, make_flow_config, score_bpd, to_grey_levels
from companion.flowtrain import train_flow
from companion.models.glow import GlowSpec, Logit, _step, build_glow, set_precision

warnings.filterwarnings("ignore", message="torch.triangular_solve is deprecated")
pytestmark = pytest.mark.filterwarnings("ignore:Inputs to the softmax are not scaled down")

TINY = GlowSpec(channels=1, image_size=4, levels=2, steps=2, hidden=8)


def _dense_logdet(fn, x: torch.Tensor) -> float:
    """log|det J| of fn at one input x (C, H, W), from the dense autograd Jacobian (float64)."""
    J = torch.autograd.functional.jacobian(lambda v: fn(v[None])[0].reshape(-1), x)
    return float(torch.linalg.slogdet(J.reshape(x.numel(), x.numel()))[1])


def _randomised(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Every parameter random (not the identity initialisation), in float64, ActNorm marked initialised."""
    g = torch.Generator().manual_seed(seed)
    module = module.double()
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=g, dtype=torch.float64))
        for name, b in module.named_buffers():
            if name.endswith("initialized"):
                b.fill_(True)
    return module.eval()


def _layers(channels: int, coupling: str) -> list[torch.nn.Module]:
    spec = GlowSpec(channels=1, image_size=4, levels=1, steps=1, hidden=8, coupling=coupling)
    return _step(spec, channels, 0) + _step(spec, channels, 1)[2:]  # ActNorm, 1x1 conv, both coupling halves


@pytest.mark.parametrize("coupling", ["affine", "spline"])
@pytest.mark.parametrize("shape", [(4, 2, 2), (2, 4, 4)])
def test_every_layer_logdet_is_slogdet_of_its_jacobian(coupling: str, shape: tuple[int, int, int]) -> None:
    x = 0.5 * torch.randn(*shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    for i, layer in enumerate(_layers(shape[0], coupling)):
        layer = _randomised(layer, seed=i)
        out, logdet = layer(x[None])
        logdet = logdet.detach()
        assert out.shape == x[None].shape
        assert float(logdet[0]) == pytest.approx(_dense_logdet(lambda v, f=layer: f(v)[0], x), abs=1e-8), layer
        with torch.no_grad():  # float() of a tensor that still needs grad warns
            back, inv_logdet = layer.inverse(out)
        assert torch.allclose(back[0], x, atol=1e-9)
        assert float(inv_logdet[0]) == pytest.approx(-float(logdet[0]), abs=1e-8)


def test_squeeze_and_logit_logdets_by_jacobian() -> None:
    x = torch.rand(1, 4, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 0.98 + 0.01
    squeeze = SqueezeTransform()
    assert float(squeeze(x[None])[1][0]) == 0.0 == pytest.approx(_dense_logdet(lambda v: squeeze(v)[0], x), abs=1e-12)
    logit = Logit(alpha=0.05)
    _, logdet = logit(x[None])
    assert float(logdet[0]) == pytest.approx(_dense_logdet(lambda v: logit(v)[0], x), abs=1e-9)
    # by hand: sum log(1 - 2a) - log s - log(1 - s), s = a + (1 - 2a) x
    s = 0.05 + 0.9 * x
    assert float(logdet[0]) == pytest.approx(float((math.log(0.9) - s.log() - (1 - s).log()).sum()), abs=1e-9)


@pytest.mark.parametrize("coupling", ["affine", "spline"])
def test_whole_flow_logdet_and_inverse(coupling: str) -> None:
    torch.manual_seed(0)
    spec = GlowSpec(channels=1, image_size=4, levels=2, steps=2, hidden=8, coupling=coupling)
    flow = _randomised(build_glow(spec), seed=3)
    x = torch.rand(3, 1, 4, 4, generator=torch.Generator().manual_seed(4), dtype=torch.float64) * 0.98 + 0.01
    z, logdet = flow._transform(x)
    logdet = logdet.detach()  # float() of a tensor that still needs grad warns
    assert z.shape == (3, 16)
    for i in range(3):
        assert float(logdet[i]) == pytest.approx(_dense_logdet(lambda v: flow._transform(v)[0], x[i]), abs=1e-7)
    back, inv = flow._transform.inverse(z)
    assert (back - x).abs().max() < 1e-5
    assert torch.allclose(inv, -logdet, atol=1e-7)
    # log p(x) = log N(z; 0, I) + log|det| exactly
    normal = -0.5 * (z.square().sum(1) + 16 * math.log(2 * math.pi))
    assert torch.allclose(flow.log_prob(x), normal + logdet, atol=1e-9)


def test_multiscale_split_keeps_every_dimension_exactly_once() -> None:
    """With squeezes only, the 28x28 multi-scale map is a permutation: each of the 784 pixels appears once."""
    ms = MultiscaleCompositeTransform(num_transforms=2)
    c, h, w = 1, 28, 28
    for _ in range(2):
        sq = SqueezeTransform()
        c, h, w = sq.get_output_shape(c, h, w)
        nxt = ms.add_transform(CompositeTransform([sq]), (c, h, w))
        if nxt is not None:
            c, h, w = nxt
    x = torch.arange(784, dtype=torch.float64).view(1, 1, 28, 28)
    z, logdet = ms(x)
    assert z.shape == (1, 784) and float(logdet) == 0.0
    assert sorted(z[0].long().tolist()) == list(range(784))
    assert torch.equal(ms.inverse(z)[0], x)


def test_a_wrong_squeeze_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: a squeeze whose forward permutes differently from its inverse breaks the round trip."""
    right = SqueezeTransform.forward

    def wrong(self, inputs, context=None):
        out, logdet = right(self, inputs, context)
        return out.flip(1), logdet  # channels in the wrong order

    torch.manual_seed(0)
    flow = build_glow(TINY).double().eval()
    x = torch.rand(2, 1, 4, 4, dtype=torch.float64) * 0.98 + 0.01
    flow.log_prob(x)  # ActNorm's data-dependent initialisation happens in training mode only
    z, _ = flow._transform(x)
    assert (flow._transform.inverse(z)[0] - x).abs().max() < 1e-6
    monkeypatch.setattr(SqueezeTransform, "forward", wrong)
    z, _ = flow._transform(x)
    assert (flow._transform.inverse(z)[0] - x).abs().max() > 1e-2


# --- bits per dimension ---------------------------------------------------------------------------


class _Uniform(torch.nn.Module):
    """The uniform density on (0, 1)^D: log p = 0 everywhere (an nflows-style distribution)."""

    def log_prob(self, inputs, context=None):
        return inputs.new_zeros(inputs.shape[0])


def test_bits_per_dim_of_the_uniform_density_is_exactly_8() -> None:
    """The identity flow on a uniform base gives every grey level probability 1/256: 8 bits per dimension."""
    x = torch.randint(0, 256, (5, 1, 4, 4), dtype=torch.uint8)
    lp = _Uniform().log_prob(dequantise(x, torch.Generator().manual_seed(0)))
    assert bits_per_dim(lp, 16).tolist() == [8.0] * 5


def test_bits_per_dim_by_hand_through_the_logit() -> None:
    """A flow that is only the logit on a standard normal: the bound in closed form, log 256 counted once."""
    a = 1e-6
    flow = Flow(CompositeTransform([Logit(a)]), StandardNormal([1, 4, 4])).double()
    x = torch.randint(0, 256, (3, 1, 4, 4), dtype=torch.uint8)
    u = torch.rand(x.shape, generator=torch.Generator().manual_seed(7)).double()  # dequantise's draw
    xc = (x.double() + u) / 256
    s = a + (1 - 2 * a) * xc.numpy()
    y = np.log(s) - np.log1p(-s)
    log_p = (-0.5 * y**2 - 0.5 * np.log(2 * np.pi) + np.log(1 - 2 * a) - np.log(s) - np.log1p(-s)).reshape(3, -1).sum(1)
    expected = -log_p / (16 * np.log(2)) + 8
    got = bits_per_dim(flow.log_prob(xc), 16).numpy()
    assert np.allclose(got, expected, atol=1e-10)
    # score_bpd draws the same noise from the same seed: one draw = the same number
    scored = score_bpd(flow.float(), x, draws=1, seed=7)
    assert np.allclose(scored.numpy(), expected, atol=1e-4)


def test_score_is_the_mean_over_its_draws() -> None:
    """K draws from one seeded stream, averaged per image (not summed, not one draw)."""
    torch.manual_seed(0)
    flow = build_glow(TINY)
    x = torch.randint(0, 256, (5, 1, 4, 4), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    flow.log_prob(x.float() / 256 + 0.001)  # ActNorm's initialisation
    flow.eval()
    g = torch.Generator().manual_seed(11)
    with torch.no_grad():
        each = [bits_per_dim(flow.log_prob(dequantise(x, g)), 16).double() for _ in range(3)]
    assert torch.allclose(score_bpd(flow, x, draws=3, seed=11), sum(each) / 3, atol=1e-9)
    assert not torch.allclose(each[0], each[1])  # the draws differ, so the mean is not any single one


def test_couplings_alternate_their_halves() -> None:
    """Consecutive couplings transform complementary channel halves, so every channel is transformed."""
    from nflows.transforms.coupling import CouplingTransform

    couplings = [m for m in build_glow(GlowSpec(steps=4)).modules() if isinstance(m, CouplingTransform)]
    assert len(couplings) == 8
    first_level = couplings[:4]
    for a, b in itertools.pairwise(first_level):
        assert sorted(a.transform_features.tolist() + b.transform_features.tolist()) == list(range(4))


def test_grey_levels_invert_the_dequantisation() -> None:
    x = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    for seed in range(3):
        assert torch.equal(to_grey_levels(dequantise(x, torch.Generator().manual_seed(seed))), x)


def test_bf16_coupling_nets_keep_the_flow_exact() -> None:
    """bf16 runs only inside the coupling nets: the flow is still exactly invertible and log p stays float32."""
    torch.manual_seed(0)
    flow = build_glow(TINY)
    x = torch.rand(4, 1, 4, 4) * 0.98 + 0.01
    flow.log_prob(x)  # ActNorm initialisation
    flow.eval()
    set_precision(flow, "bf16")
    lp = flow.log_prob(x)
    assert lp.dtype == torch.float32
    z, _ = flow._transform(x)
    assert (flow._transform.inverse(z)[0] - x).abs().max() < 1e-4


# --- training, resume, the commands ---------------------------------------------------------------

FLOW_TINY = ["--dataset", "synthetic", "--depth", "2", "--hidden", "8", "--batch-size", "64", "--eval-images", "64",
             "--device", "cpu", "--precision", "fp32", "--warmup", "10", "--no-progress"]  # fmt: skip


@pytest.fixture(scope="module")
def flow_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("flow") / "run"
    assert main(["flow", "train", "--out", str(out), "--epochs", "2", *FLOW_TINY]) == 0
    return out


def test_flow_training_lowers_the_held_out_bits_per_dim(flow_run: Path) -> None:
    import json

    recs = [json.loads(line) for line in (flow_run / "metrics.jsonl").read_text().splitlines()]
    held = [r["test_bpd"] for r in recs if r["type"] == "epoch"]
    assert len(held) == 2 and held[1] < held[0] < 8.0


def test_a_killed_flow_run_resumes_exactly(tmp_path: Path) -> None:
    """kill -9 after the first checkpoint, then --resume: the weights of the uninterrupted run (cosine schedule).

    Both runs are subprocesses with the same thread count: a convolution's float sums depend on how
    many threads split them, so an in-process reference (pytest's thread count) may differ in the
    last bit from a one-thread run on another machine, and that is not what this test is about.
    """
    import os
    import signal
    import subprocess
    import sys
    import time

    from companion.checkpoint import load_checkpoint
    from companion.density import FLOW_FORMAT

    killed = tmp_path / "killed"
    cmd = [sys.executable, "-m", "companion", "flow", "train", "--out", str(killed), "--epochs", "2", *FLOW_TINY]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not (killed / "ckpt.pt").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert load_checkpoint(killed / "ckpt.pt", FLOW_FORMAT)["epoch"] == 1, "the run finished before the kill"
    subprocess.run([*cmd, "--resume"], check=True, env=env, capture_output=True)
    whole = tmp_path / "whole"
    subprocess.run([*cmd[:6], str(whole), *cmd[7:]], check=True, env=env, capture_output=True)
    a = load_checkpoint(whole / "ckpt.pt", FLOW_FORMAT)["flow"]
    b = load_checkpoint(killed / "ckpt.pt", FLOW_FORMAT)["flow"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_train_flow_resume_in_process_is_exact(tmp_path: Path) -> None:
    from companion.data import make_synthetic

    cfg = make_flow_config(None, dataset="synthetic", depth=2, hidden=8, eval_images=32, device="cpu", precision="fp32",
                           schedule="constant", warmup=0)  # fmt: skip
    data, test = make_synthetic(256).images, make_synthetic(64, seed=1).images
    import dataclasses

    for d in ("a", "b"):
        (tmp_path / d).mkdir()
    train_flow(dataclasses.replace(cfg, epochs=2), data, test, tmp_path / "a", progress=False)
    train_flow(dataclasses.replace(cfg, epochs=1), data, test, tmp_path / "b", progress=False)
    train_flow(dataclasses.replace(cfg, epochs=2), data, test, tmp_path / "b", resume=True, progress=False)
    from companion.checkpoint import load_checkpoint
    from companion.density import FLOW_FORMAT

    a = load_checkpoint(tmp_path / "a" / "ckpt.pt", FLOW_FORMAT)["flow"]
    b = load_checkpoint(tmp_path / "b" / "ckpt.pt", FLOW_FORMAT)["flow"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_score_png_folder_equals_npy_and_the_library(flow_run: Path, tmp_path: Path, capsys) -> None:
    from PIL import Image

    from companion.data import make_synthetic
    from companion.density import load_flow

    x = make_synthetic(6, seed=9).images
    np.save(tmp_path / "x.npy", x.numpy())
    (tmp_path / "png").mkdir()
    for i, im in enumerate(x.numpy()):
        Image.fromarray(im[0]).save(tmp_path / "png" / f"{i:02d}.png")
    ck = str(flow_run / "ckpt.pt")
    assert main(["flow", "score", "--checkpoint", ck, "--images", str(tmp_path / "x.npy"), "--out",
                 str(tmp_path / "a.npy"), "--draws", "3", "--device", "cpu"]) == 0  # fmt: skip
    line = capsys.readouterr().out
    assert main(["flow", "score", "--checkpoint", ck, "--images", str(tmp_path / "png"), "--out",
                 str(tmp_path / "b.npy"), "--draws", "3", "--device", "cpu"]) == 0  # fmt: skip
    a, b = np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy")
    assert np.array_equal(a, b)
    flow, _, _ = load_flow(ck)
    expected = score_bpd(flow, x, draws=3, seed=0).numpy()
    assert np.array_equal(a, expected)
    assert f"mean {expected.mean():.4f}" in line
    # a float copy in [0, 1] of the same images scores the same
    np.save(tmp_path / "f.npy", x.numpy().astype(np.float32) / 255)
    assert main(["flow", "score", "--checkpoint", ck, "--images", str(tmp_path / "f.npy"), "--out",
                 str(tmp_path / "c.npy"), "--draws", "3", "--device", "cpu"]) == 0  # fmt: skip
    assert np.array_equal(np.load(tmp_path / "c.npy"), a)


def test_flow_sample_is_the_library_sample(flow_run: Path, tmp_path: Path, capsys) -> None:
    from companion.density import load_flow, sample_flow

    out = tmp_path / "s.npy"
    assert main(["flow", "sample", "--checkpoint", str(flow_run / "ckpt.pt"), "--n", "7", "--temperature", "0.7",
                 "--seed", "2", "--out", str(out), "--device", "cpu"]) == 0  # fmt: skip
    flow, _, _ = load_flow(flow_run / "ckpt.pt")
    expected = sample_flow(flow, 7, 0.7, seed=2)
    got = np.load(out)
    assert got.dtype == np.uint8 and np.array_equal(got, expected.numpy())
    assert not np.array_equal(got, sample_flow(flow, 7, 0.7, seed=3).numpy())  # the seed matters


def _one_line(rc: int, err: str, match: str) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2 and len(lines) == 1 and "Traceback" not in err and match in lines[0], err


@pytest.mark.parametrize(
    "kind,match",
    [
        ("gan", "is not a companion-flow/1 checkpoint (found format 'companion-gan/1')"),
        ("colour", "have shape (3, 28, 28) per image but the generator makes (1, 28, 28)"),
        ("size", "have shape (1, 32, 32) per image"),
        ("nan", "float values must lie in [0, 1]"),
        ("empty", "holds no .png files"),
    ],
)
def test_flow_score_refuses_bad_input_in_one_line(
    flow_run: Path, tmp_path: Path, capsys, kind: str, match: str
) -> None:
    ck = flow_run / "ckpt.pt"
    images = tmp_path / "x.npy"
    if kind == "gan":
        from companion.config import make_config
        from companion.experiment import run_training

        cfg = make_config(None, dataset="synthetic", epochs=1, batch_size=64, fid_samples=0, device="cpu", n_fixed=8)
        run_training(cfg, tmp_path / "gan", progress=False, render=False)
        ck = tmp_path / "gan" / "ckpt.pt"
        np.save(images, np.zeros((2, 1, 28, 28), np.uint8))
    elif kind == "colour":
        np.save(images, np.zeros((2, 3, 28, 28), np.uint8))
    elif kind == "size":
        np.save(images, np.zeros((2, 1, 32, 32), np.uint8))
    elif kind == "nan":
        a = np.zeros((2, 1, 28, 28), np.float32)
        a[0, 0, 0, 0] = np.nan
        np.save(images, a)
    else:
        images = tmp_path / "empty"
        images.mkdir()
    out = tmp_path / "bpd.npy"
    capsys.readouterr()
    rc = main(["flow", "score", "--checkpoint", str(ck), "--images", str(images), "--out", str(out)])
    _one_line(rc, capsys.readouterr().err, match)
    assert not out.exists()


@pytest.mark.parametrize("channels", [4, 8])
def test_folded_invertible_1x1_is_nflows_layer(channels: int) -> None:
    """The folded 1x1 convolution (W = L U P in one conv) computes nflows' layer, forward and inverse, with the
    same parameters; a planted wrong fold (P not inverted) is told apart."""
    from nflows.transforms.conv import OneByOneConvolution

    from companion.models.glow import Invertible1x1

    torch.manual_seed(channels)
    ref, fast = OneByOneConvolution(channels), Invertible1x1(channels)
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(0.3 * torch.randn_like(p))
    fast.load_state_dict(ref.state_dict())
    x = torch.randn(3, channels, 5, 5)
    y_ref, ld_ref = ref(x)
    y, ld = fast(x)
    assert torch.allclose(y, y_ref, atol=1e-5) and torch.allclose(ld, ld_ref, atol=1e-4)
    x_back, ld_inv = fast.inverse(y)
    assert torch.allclose(x_back, x, atol=1e-4) and torch.allclose(ld_inv, -ld, atol=1e-4)
    lower, upper = fast._create_lower_upper()
    wrong = torch.nn.functional.conv2d(
        x, (lower @ upper)[:, fast.permutation._permutation][:, :, None, None], fast.bias
    )
    assert not torch.allclose(wrong, y_ref, atol=1e-3)  # the control: the permutation's direction matters

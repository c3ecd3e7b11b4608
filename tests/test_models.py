"""The report's architecture layer for layer, and the DCGAN shapes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from companion.models import ArchSpec, build_gan, dcgan_init
from companion.models.report28 import ReportDiscriminator, ReportGenerator


def _convs(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]


def test_report_generator_is_exactly_the_reports() -> None:
    g = ReportGenerator()
    got = [
        (type(m).__name__, m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.output_padding)
        for m in _convs(g)
    ]
    assert got == [
        ("ConvTranspose2d", 100, 256, (3, 3), (2, 2), (0, 0), (0, 0)),
        ("ConvTranspose2d", 256, 128, (3, 3), (2, 2), (0, 0), (0, 0)),
        ("ConvTranspose2d", 128, 64, (3, 3), (2, 2), (0, 0), (0, 0)),
        ("ConvTranspose2d", 64, 1, (3, 3), (2, 2), (2, 2), (1, 1)),
    ]
    kinds = [type(m).__name__ for m in g.net]
    assert kinds == ["ConvTranspose2d", "BatchNorm2d", "ReLU"] * 3 + ["ConvTranspose2d", "Sigmoid"]
    assert all(m.bias is None for m in _convs(g))


def test_report_discriminator_is_exactly_the_reports() -> None:
    d = ReportDiscriminator()
    got = [(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding) for m in _convs(d)]
    assert got == [
        (1, 28, (4, 4), (2, 2), (1, 1)),
        (28, 56, (4, 4), (2, 2), (1, 1)),
        (56, 112, (4, 4), (2, 2), (1, 1)),
        (112, 1, (4, 4), (2, 2), (1, 1)),
    ]
    kinds = [type(m).__name__ for m in d.net]
    assert kinds == [
        "Conv2d",
        "LeakyReLU",
        "Conv2d",
        "BatchNorm2d",
        "LeakyReLU",
        "Conv2d",
        "BatchNorm2d",
        "LeakyReLU",
        "Conv2d",
    ]
    assert all(m.negative_slope == 0.2 for m in d.net if isinstance(m, nn.LeakyReLU))
    assert all(m.bias is None for m in _convs(d))


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("spectral", [False, True])
def test_report_forward_is_its_layers_one_by_one(layout: torch.memory_format, spectral: bool) -> None:
    """G's first layer is computed as a matrix product and D's last as a dot product (for speed):
    the values and every parameter's gradient must be those of the layers run as convolutions."""
    from companion.stabilisers import apply_spectral_norm

    torch.manual_seed(0)
    g, d = ReportGenerator().apply(dcgan_init), ReportDiscriminator().apply(dcgan_init)
    if spectral:
        d = apply_spectral_norm(d)
        for m in d.modules():  # no power iteration, so that both passes see the same weight (BN still trains)
            if type(m).__name__ == "_SpectralNorm":
                m.eval()
    # float64, so that the comparison is tight: batch norm over 6 images amplifies float32's rounding.
    g, d = g.double().to(memory_format=layout), d.double().to(memory_format=layout)
    z = torch.randn(6, 100, dtype=torch.float64)
    got = d(g(z))
    got.square().sum().backward()
    params = {**{f"G.{n}": p for n, p in g.named_parameters()}, **{f"D.{n}": p for n, p in d.named_parameters()}}
    grads = {n: p.grad.clone() for n, p in params.items()}
    g.zero_grad(set_to_none=True)
    d.zero_grad(set_to_none=True)
    want = d.net(g.net(z.reshape(6, 100, 1, 1))).flatten()
    want.square().sum().backward()
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)
    assert got.abs().max() > 0.1  # not a trivially small output
    for n, p in params.items():
        torch.testing.assert_close(grads[n], p.grad, rtol=1e-8, atol=1e-9, msg=lambda m, n=n: f"{n}: {m}")
    # Another input size (D's last map 4x4, not 3x3) runs the convolution itself.
    x = torch.rand(2, 1, 32, 32, dtype=torch.float64).to(memory_format=layout)
    torch.testing.assert_close(d(x), d.net(x).flatten())


@pytest.mark.parametrize("arch,channels,size", [("report28", 1, 28), ("dcgan64", 3, 64), ("dcgan64", 1, 64)])
def test_shapes_and_ranges(arch: str, channels: int, size: int) -> None:
    g, d = build_gan(ArchSpec(arch, channels, 100))
    x = g(torch.randn(5, 100))
    assert x.shape == (5, channels, size, size)
    assert x.min() >= 0 and x.max() <= 1
    logits = d(x)
    assert logits.shape == (5,)


def test_discriminator_returns_logits_not_probabilities() -> None:
    torch.manual_seed(0)
    d = ReportDiscriminator()
    d.apply(dcgan_init)
    with torch.no_grad():
        for m in _convs(d):
            m.weight.mul_(50)  # large weights: a sigmoid output would be stuck inside [0, 1]
        out = d.eval()(torch.rand(64, 1, 28, 28))
    assert (out < 0).any() or (out > 1).any()


def test_dcgan_init_statistics() -> None:
    torch.manual_seed(0)
    g, _ = build_gan(ArchSpec("dcgan64", 3, 100))
    w = torch.cat([m.weight.flatten() for m in _convs(g)])
    assert abs(w.mean().item()) < 1e-3
    assert w.std().item() == pytest.approx(0.02, rel=0.02)

r"""Networks for the reader's browser: the report's generator (and chapter 2's encoder) as a tiny file set.

``companion export-web`` writes a folder the book's interactive figures read (format
``companion-web/1``):

* ``manifest.json``: the layers in order, each with its type, sizes, activation and where its
  weights lie in the binary file; the latent gallery and principal directions for the latent
  explorer; and a digest of what was exported;
* ``weights.bin``: every tensor, little-endian, one after another: ``f16`` (IEEE half precision,
  enough for display: a grey level is 1/255) or ``q8`` (int8 with one float32 scale per output row,
  for the encoder's large linear layer, optionally factorised to rank r by an SVD first).

BatchNorm is folded into the convolution before it (eval mode): for a (transposed) convolution with
weight W and output channel c followed by BatchNorm,

$$
W'_{\cdot c} = s_c W_{\cdot c}, \qquad b'_c = \beta_c + s_c (b_c - \mu_c),
\qquad s_c = \frac{\gamma_c}{\sqrt{\sigma^2_c + \epsilon}} .
$$

`rebuild_generator` and `rebuild_encoder` read the files back into PyTorch with exactly the
exported (rounded) weights: the reference the browser's numbers are tested against.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["WEB_FORMAT", "export_web", "fold_bn", "rebuild_encoder", "rebuild_generator"]

WEB_FORMAT = "companion-web/1"


def fold_bn(weight: Tensor, bias: Tensor | None, bn: nn.BatchNorm2d, transposed: bool) -> tuple[Tensor, Tensor]:
    """A convolution followed by BatchNorm (eval mode) as one convolution: (weight, bias) folded."""
    s = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    b = torch.zeros_like(bn.running_mean) if bias is None else bias.detach()
    shape = (1, -1, 1, 1) if transposed else (-1, 1, 1, 1)  # ConvTranspose2d weights are (in, out, kh, kw)
    return weight.detach() * s.view(shape), bn.bias.detach() + s * (b - bn.running_mean)


class _Writer:
    """Appends tensors to the binary blob and returns their descriptors."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.offset = 0

    def add(self, t: Tensor, kind: str = "f16") -> dict[str, Any]:
        t = t.detach().float().cpu().contiguous()
        if kind == "f16":
            data = t.numpy().astype("<f2").tobytes()
            desc = {"dtype": "f16", "offset": self.offset, "shape": list(t.shape)}
        else:  # q8: int8 per output row (dim 0), float32 scale per row
            rows = t.reshape(t.shape[0], -1)
            scale = rows.abs().amax(1).clamp_min(1e-12) / 127
            q = torch.round(rows / scale[:, None]).clamp(-127, 127).to(torch.int8)
            data = scale.numpy().astype("<f4").tobytes() + q.numpy().tobytes()
            desc = {"dtype": "q8", "offset": self.offset, "shape": list(t.shape)}
        pad = (-len(data)) % 4  # keep every tensor 4-byte aligned
        self.chunks.append(data + b"\0" * pad)
        self.offset += len(data) + pad
        return desc

    def blob(self) -> bytes:
        return b"".join(self.chunks)


def _generator_layers(G: nn.Module, w: _Writer) -> list[dict[str, Any]]:
    mods = list(G.net)
    layers = []
    i = 0
    while i < len(mods):
        conv = mods[i]
        if not isinstance(conv, nn.ConvTranspose2d):
            raise ValueError(f"unexpected layer {type(conv).__name__} in the generator")
        weight, bias = conv.weight.detach(), conv.bias
        i += 1
        if i < len(mods) and isinstance(mods[i], nn.BatchNorm2d):
            weight, bias = fold_bn(weight, bias, mods[i], transposed=True)
            i += 1
        act = "linear"
        if i < len(mods) and isinstance(mods[i], (nn.ReLU, nn.Sigmoid, nn.Tanh)):
            act = {nn.ReLU: "relu", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh"}[type(mods[i])]
            i += 1
        layers.append({
            "type": "convT", "in": conv.in_channels, "out": conv.out_channels, "k": conv.kernel_size[0],
            "stride": conv.stride[0], "padding": conv.padding[0], "output_padding": conv.output_padding[0],
            "activation": act, "weight": w.add(weight),
            "bias": w.add(bias if bias is not None else torch.zeros(conv.out_channels)),
        })  # fmt: skip
    return layers


def _encoder_layers(E: nn.Module, w: _Writer, rank: int, quantize: bool) -> list[dict[str, Any]]:
    mods = [m for m in E.net if not isinstance(m, nn.Flatten)] + list(E.head)
    layers, i = [], 0
    while i < len(mods):
        m = mods[i]
        i += 1
        if isinstance(m, nn.Conv2d):
            weight, bias = m.weight.detach(), m.bias
            if i < len(mods) and isinstance(mods[i], nn.BatchNorm2d):
                weight, bias = fold_bn(weight, bias, mods[i], transposed=False)
                i += 1
            layer = {"type": "conv", "in": m.in_channels, "out": m.out_channels, "k": m.kernel_size[0],
                     "stride": m.stride[0], "padding": m.padding[0], "weight": w.add(weight),
                     "bias": w.add(bias)}  # fmt: skip
        elif isinstance(m, nn.Linear):
            W = m.weight.detach()
            if rank and min(W.shape) > rank and W.numel() > 1_000_000:
                U, S, Vh = torch.linalg.svd(W, full_matrices=False)  # W ~ (U_r S_r) V_r^T: two linear layers
                kind = "q8" if quantize else "f16"
                layers.append({"type": "linear", "in": m.in_features, "out": rank, "activation": "linear",
                               "weight": w.add(Vh[:rank], kind), "bias": w.add(torch.zeros(rank))})  # fmt: skip
                W = U[:, :rank] * S[:rank]
                layer = {"type": "linear", "in": rank, "out": m.out_features, "weight": w.add(W, kind),
                         "bias": w.add(m.bias)}  # fmt: skip
            else:
                kind = "q8" if quantize and W.numel() > 1_000_000 else "f16"
                layer = {"type": "linear", "in": m.in_features, "out": m.out_features, "weight": w.add(W, kind),
                         "bias": w.add(m.bias)}  # fmt: skip
        else:
            raise ValueError(f"unexpected layer {type(m).__name__} in the encoder")
        layer["activation"] = "linear"
        if i < len(mods) and isinstance(mods[i], nn.LeakyReLU):
            layer["activation"], layer["slope"] = "leaky_relu", mods[i].negative_slope
            i += 1
        layers.append(layer)
    return layers


def export_web(
    generator_ckpt: str | Path, out: str | Path, encoder_ckpt: str | Path | None = None, *, rank: int = 0,
    gallery: int = 12, directions: int = 4, data: Tensor | None = None, quantize: bool = True,
) -> dict[str, Any]:  # fmt: skip
    """Write ``manifest.json`` and ``weights.bin`` into ``out`` (checked by the caller); returns the manifest.

    Args:
        generator_ckpt: A GAN or GLO checkpoint (its moving average when it has one).
        out: The folder.
        encoder_ckpt: Chapter 2's encoder for that generator (optional).
        rank: Factorise the encoder's large linear layer to this rank (0: keep it whole).
        quantize: Store the encoder's large linear layer(s) as int8 (else float16, twice the bytes).
        gallery: Latents in the explorer's gallery (z ~ N(0, I), seed 0).
        directions: Principal directions of the encoder's codes of ``data`` (needs the encoder and data).
        data: (N, C, H, W) uint8 images whose encoded latents give the principal directions.
    """
    from companion.encoder import generator_fingerprint, load_encoder
    from companion.experiment import load_generator
    from companion.fsutil import atomic_write
    from companion.pixels import to_unit

    G, spec, _ = load_generator(generator_ckpt)
    w = _Writer()
    manifest: dict[str, Any] = {
        "format": WEB_FORMAT,
        "generator": {
            "latent_dim": spec.latent_dim,
            "image": list(spec.image_shape),
            "fingerprint": generator_fingerprint(G),
            "layers": _generator_layers(G, w),
        },
    }
    z = torch.randn(gallery, spec.latent_dim, generator=torch.Generator().manual_seed(0))
    manifest["gallery"] = z.tolist()
    if encoder_ckpt is not None:
        E = load_encoder(encoder_ckpt, G)
        manifest["encoder"] = {"input": list(spec.image_shape), "latent_dim": spec.latent_dim, "rank": rank,
                               "layers": _encoder_layers(E, w, rank, quantize)}  # fmt: skip
        if data is not None and directions:
            with torch.no_grad():
                codes = torch.cat([E(to_unit(c)) for c in data.split(1000)])
            mean = codes.mean(0)
            _, S, Vh = torch.linalg.svd(codes - mean, full_matrices=False)
            std = S[:directions] / (codes.shape[0] - 1) ** 0.5
            manifest["directions"] = {"vectors": Vh[:directions].tolist(), "std": std.tolist(), "mean": mean.tolist()}
    blob = w.blob()
    manifest["weights"] = {"file": "weights.bin", "bytes": len(blob), "sha256": hashlib.sha256(blob).hexdigest()}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "weights.bin", lambda f: f.write(blob))
    text = json.dumps(manifest, separators=(",", ":"))
    atomic_write(out / "manifest.json", lambda f: f.write(text.encode()))
    return manifest


def _read(blob: bytes, desc: dict[str, Any]) -> Tensor:
    shape, off = desc["shape"], desc["offset"]
    n = int(np.prod(shape))
    if desc["dtype"] == "f16":
        arr = np.frombuffer(blob, dtype="<f2", count=n, offset=off).astype(np.float32)
    else:
        rows = shape[0]
        scale = np.frombuffer(blob, dtype="<f4", count=rows, offset=off)
        q = np.frombuffer(blob, dtype=np.int8, count=n, offset=off + 4 * rows).astype(np.float32)
        arr = (q.reshape(rows, -1) * scale[:, None]).reshape(-1)
    return torch.from_numpy(arr.copy()).view(*shape)


def _load(folder: str | Path) -> tuple[dict[str, Any], bytes]:
    folder = Path(folder)
    return json.loads((folder / "manifest.json").read_text()), (folder / "weights.bin").read_bytes()


def _act(x: Tensor, layer: dict[str, Any]) -> Tensor:
    a = layer["activation"]
    if a == "relu":
        return torch.relu(x)
    if a == "sigmoid":
        return torch.sigmoid(x)
    if a == "tanh":
        return torch.tanh(x)
    if a == "leaky_relu":
        return torch.nn.functional.leaky_relu(x, layer["slope"])
    return x


def rebuild_generator(folder: str | Path):
    """G as the browser computes it (the exported, rounded weights): z (B, d) -> images (B, C, H, W) in [0, 1]."""
    manifest, blob = _load(folder)
    layers = manifest["generator"]["layers"]

    def G(z: Tensor) -> Tensor:
        x = z.float().view(z.shape[0], -1, 1, 1)
        for L in layers:
            x = torch.nn.functional.conv_transpose2d(
                x, _read(blob, L["weight"]), _read(blob, L["bias"]), stride=L["stride"], padding=L["padding"],
                output_padding=L["output_padding"],
            )  # fmt: skip
            x = _act(x, L)
        return x

    return G


def rebuild_encoder(folder: str | Path):
    """E as the browser computes it: images (B, C, H, W) in [0, 1] -> latents (B, d)."""
    manifest, blob = _load(folder)
    layers = manifest["encoder"]["layers"]

    def E(x: Tensor) -> Tensor:
        h = x.float() * 2 - 1
        for L in layers:
            if L["type"] == "conv":
                h = torch.nn.functional.conv2d(h, _read(blob, L["weight"]), _read(blob, L["bias"]),
                                               stride=L["stride"], padding=L["padding"])  # fmt: skip
            else:
                h = h.flatten(1) @ _read(blob, L["weight"]).T + _read(blob, L["bias"])
            h = _act(h, L)
        return h

    return E

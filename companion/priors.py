r"""One interface for the book's three generators as priors: inversion and restoration by latent optimisation.

A prior is a differentiable decoder $g: z \mapsto x$ from a latent space to images in $[0, 1]$, and
restoration solves, for an observation $y = A(x) + \varepsilon$ (`companion.restoration`),

$$
\hat z = \arg\min_z \; \ell\big(A(g(z)), y\big) + R(z), \qquad \hat x = g(\hat z),
$$

with one solver for all (`companion.inversion.fit_latent`). What differs is $g$, $R$ and the start:

* **GAN** (chapters 1 and 4) and **GLO** (chapter 5): $g = G$, $z \in \mathbb R^{100}$ kept on the
  sphere of radius $\sqrt{d}$ where G was trained; several random starts. The answer lies on G's
  100-dimensional range, so an image off that range keeps a *representation error*.
* **Glow** (Part II): $g = f^{-1}$, the inverse of the flow, $z \in \mathbb R^{784}$ with $z \sim
  \mathcal N(0, I)$ under the model. Following Asim et al. (2020, *Invertible generative models for
  inverse problems*), restoration is MAP in the flow's latent,

  $$
  \hat z = \arg\min_z \; \tfrac{1}{D_y}\lVert A(f^{-1}(z)) - y\rVert^2 + \gamma \lVert z\rVert^2 ,
  $$

  (the data term is a mean over the $D_y$ observed entries, so $\gamma$ here is the paper's divided
  by $D_y$), started at $z_0 = f(\tilde x)$, the flow's code of the degraded view $\tilde x$ (the noisy
  image, the masked image, the upsampled one, $A^\top y$). $f$ is a bijection: every image has a
  code, so there is **no representation error**, and inversion is exact, $\hat x = f^{-1}(f(x)) = x$.
  What keeps a restoration from fitting the noise is $\gamma$ alone, chosen on a validation split.

`load_prior` is the one place that reads a checkpoint's kind; the commands and chapters only see
`Prior`.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from companion.inversion import InversionConfig, InversionResult, fit_latent

__all__ = ["FLOW_GAMMA", "FLOW_GAMMA_DEFAULT", "FlowDecoder", "Prior", "degradation", "flow_gamma", "load_prior"]

#: The flow prior's gamma by degradation (kind, level), as the comparison chapter chose it for
#: ``book:glow-mnist`` on its validation digits (``docs/assets/compare/results.json``, ``gammas``;
#: tests/test_priors.py keeps the two equal). The level is the noise's sigma, the share of pixels
#: missing, the downsampling factor or the number of measurements (`degradation`).
FLOW_GAMMA: dict[tuple[str, float], float] = {
    ("denoise", 0.1): 0.0001,
    ("denoise", 0.5): 0.01,
    ("inpaint", 0.25): 0.001,
    ("inpaint", 0.5): 0.001,
    ("superres", 4.0): 0.0001,
    ("cs", 50.0): 0.01,
    ("cs", 100.0): 0.01,
    ("cs", 300.0): 0.001,
}
#: Where no degradation of the kind was tuned (and for inversion).
FLOW_GAMMA_DEFAULT = 1e-4


def degradation(op: Any) -> tuple[str, float] | None:
    """(kind, level) of a `companion.restoration` operator: ``("denoise", sigma)``, ``("inpaint", share
    missing)``, ``("superres", factor)``, ``("cs", m)``; None for anything else."""
    from companion.restoration import AvgPoolDown, GaussianSensing, Identity, Mask

    if isinstance(op, Identity):
        return ("denoise", float(op.sigma))
    if isinstance(op, Mask):
        return ("inpaint", round(1.0 - float(op.mask.float().mean()), 4))
    if isinstance(op, AvgPoolDown):
        return ("superres", float(op.factor))
    if isinstance(op, GaussianSensing):
        return ("cs", float(op.m))
    return None


def flow_gamma(op: Any, table: dict[tuple[str, float], float] | None = None) -> tuple[float, tuple[str, float] | None]:
    """The tuned gamma for ``op``: the entry of its kind whose level is nearest in ratio, |log(level / tuned)|.

    Returns (gamma, the (kind, level) it was tuned for), or (`FLOW_GAMMA_DEFAULT`, None) where nothing of
    the kind was tuned. A noiseless denoising (sigma 0) takes the smallest tuned sigma.
    """
    import math

    table = FLOW_GAMMA if table is None else table
    where = degradation(op)
    tuned = [key for key in table if where is not None and key[0] == where[0]]
    if not tuned:
        return FLOW_GAMMA_DEFAULT, None
    level = max(where[1], 1e-12)
    best = min(tuned, key=lambda key: (abs(math.log(level / key[1])), key[1]))
    return table[best], best


class FlowDecoder(nn.Module):
    """$z \\mapsto f^{-1}(z)$: a flow's inverse as a decoder of (B, D) latents into (B, C, H, W) images in [0, 1].

    The flow's preprocessing (`companion.models.glow.Logit`) is inverted too, so the output is an image.
    The flow was trained on dequantised pixels, $v = (k + u)/256$ for grey level $k$ and $u \\in [0, 1)$:
    its inputs never come nearer to 0 or 1 than one bin. An image pixel $x = k/255$ is therefore
    encoded at the centre of its bin, $v = (255 x + 1/2)/256$, and decoded back by the inverse map,
    $x = (256 v - 1/2)/255$. Encoding a black pixel as $v = 0$ instead (the logit's margin,
    $\\mathrm{logit}(10^{-6}) = -13.8$, against at most $-5.5$ in training) sent real test digits to codes of
    norm 127, far outside the typical set ($\\sqrt{784} = 28$), where the inverse is so steep that five
    Adam steps from such a code gave 3 dB and twenty overflowed. Outputs may lie half a grey level
    outside [0, 1]; callers clamp.
    """

    def __init__(self, flow: nn.Module, shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.flow = flow
        self.shape = shape
        self.latent_dim = shape[0] * shape[1] * shape[2]

    def forward(self, z: Tensor) -> Tensor:
        import warnings

        with warnings.catch_warnings():  # nflows' LU inverse uses the deprecated (still exact) triangular_solve
            warnings.filterwarnings("ignore", message="torch.triangular_solve is deprecated")
            v, _ = self.flow._transform.inverse(z)
        return ((256 * v - 0.5) / 255).reshape(-1, *self.shape)

    def encode(self, x: Tensor) -> Tensor:
        """f(v(x)): the code of images (B, C, H, W) in [0, 1] at their bins' centres (``forward`` inverts it)."""
        z, _ = self.flow._transform((255 * x.float() + 0.5) / 256)
        return z.reshape(x.shape[0], -1)


@dataclass
class Prior:
    """A generator as a prior for `companion.inversion.fit_latent`.

    Attributes:
        kind: ``gan``, ``glo`` or ``flow``.
        decoder: z (B, d) -> x (B, C, H, W) in [0, 1], with ``latent_dim``; eval mode.
        settings: The solver settings that suit this prior (a caller's budget replaces steps and restarts).
        shape: (C, H, W) of its images.
        exact: True when every image has a code (a flow): inversion is ``decoder(encode(x))``, exact.
    """

    kind: str
    decoder: nn.Module
    settings: InversionConfig
    shape: tuple[int, int, int]
    exact: bool = False
    gamma: dict[tuple[str, float], float] = field(default_factory=dict)

    @property
    def latent_dim(self) -> int:
        return int(self.decoder.latent_dim)

    def encode(self, x: Tensor) -> Tensor | None:
        """The exact code of images (flows); None where a generator has no inverse (GAN, GLO)."""
        if not self.exact:
            return None
        with torch.no_grad():
            return self.decoder.encode(x)

    def config(self, op: Any = None, **given: Any) -> InversionConfig:
        """This prior's solver settings for the degradation ``op`` (a flow's gamma: `flow_gamma`), then ``given``.

        ``given`` are the settings a caller fixes (a command's explicit options, a chapter's budget).
        """
        cfg = self.settings
        if self.kind == "flow":
            cfg = dataclasses.replace(cfg, prior_weight=flow_gamma(op, self.gamma)[0])
        return dataclasses.replace(cfg, **given)

    def restore(self, y: Tensor, op: Any, cfg: InversionConfig, data_loss: str | None = None, **kw: Any):
        """Restoration of observations ``y = op(x) + noise`` under this prior (`companion.restoration.restore`).

        A flow starts at the code of the degraded view (``z0 = f(op.view(y))``), unless ``z0`` is given.
        """
        from companion.restoration import restore

        if self.kind == "flow" and "z0" not in kw:
            kw["z0"] = self.decoder.encode(op.view(y).clamp(0, 1)).detach()
        return restore(self.decoder, y, op, cfg, data_loss, **kw)

    def invert(self, x: Tensor, cfg: InversionConfig, **kw: Any) -> InversionResult:
        """Inversion of clean images: exact for a flow (its code), latent optimisation otherwise."""
        if self.exact:
            import time

            t0 = time.perf_counter()
            with torch.no_grad():
                z = self.decoder.encode(x)
                recon = self.decoder(z).clamp(0, 1)
            err = (recon - x).square().flatten(1).mean(1)
            return InversionResult(z, recon, err, err[:, None], 0, [], time.perf_counter() - t0)
        return fit_latent(self.decoder, x, cfg, **kw)


def load_prior(path: str | os.PathLike[str], device: str | torch.device = "cpu", precision: str = "auto") -> Prior:
    """The prior of a checkpoint (a run's ``ckpt.pt`` or ``book:NAME``): a GAN's or GLO's generator, or a flow.

    A flow's coupling nets run in ``precision`` (``auto``: bfloat16 where the hardware has it natively, as in
    training; `companion.models.glow.set_precision`): every scale, shift and log-determinant stays float32, so
    the decoder is still the exact inverse of the encoder.

    Raises:
        CheckpointError: the file is none of these kinds, or fails its checks.
    """
    from companion.checkpoint import GAN_FORMAT, GLO_FORMAT, load_checkpoint
    from companion.density import FLOW_FORMAT, load_flow
    from companion.experiment import load_generator

    fmt = load_checkpoint(path, (GAN_FORMAT, GLO_FORMAT, FLOW_FORMAT))["format"]
    if fmt == FLOW_FORMAT:
        from companion.device import resolve_precision
        from companion.models.glow import set_precision

        flow, spec, _ = load_flow(path, device)
        set_precision(flow, resolve_precision(precision, torch.device(device)))
        shape = (spec.channels, spec.image_size, spec.image_size)
        # Adam's step on z: the flow's latent has 784 unit-variance coordinates, a GAN's 100 on a sphere.
        settings = InversionConfig(steps=300, restarts=1, lr=0.05, prior="l2", prior_weight=FLOW_GAMMA_DEFAULT)
        return Prior("flow", FlowDecoder(flow, shape).eval(), settings, shape, exact=True, gamma=dict(FLOW_GAMMA))
    G, spec, _ = load_generator(path, device)
    return Prior("glo" if fmt == GLO_FORMAT else "gan", G, InversionConfig(), spec.image_shape)

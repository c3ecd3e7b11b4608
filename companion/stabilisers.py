r"""The stabilisers the field adopted after DCGAN, each a switch on the one trainer (chapter 4).

* **Spectral normalisation** of D (Miyato et al., 2018): every weight $W$ is used as
  $W / \sigma(W)$, $\sigma$ its largest singular value (for a convolution, of the kernel reshaped
  to (out, in x k x k)), estimated by one power iteration per step. D becomes (about) 1-Lipschitz
  layer by layer.
* **R1 penalty** on real data (Mescheder et al., 2018): D's loss gains
  $\frac{\gamma}{2}\,\mathbb E_{x \sim p_{data}} \lVert \nabla_x D(x) \rVert^2$ (D's raw output), which
  pushes D's gradient to 0 on the data. Computed every ``r1_every`` steps and scaled by it (the
  "lazy" regularisation of StyleGAN2: the same expected penalty at a fraction of the cost).
* **An exponential moving average of G's weights** (Yazıcı et al., 2019; Karras et al.):
  $\bar\theta \leftarrow \beta_t \bar\theta + (1 - \beta_t)\theta$ after every step, with the warm-up
  $\beta_t = \min(\beta, \frac{1 + t}{10 + t})$; samples and FID come from $\bar\theta$. Buffers
  (BatchNorm statistics) are copied, not averaged.
* **Two time-scale learning rates** (Heusel et al., 2017): D and G get their own Adam step
  (``--lr-d``), e.g. 4e-4 for D and 1e-4 for G.
* **Hinge loss** (Lim & Ye, 2017; Miyato et al., 2018): in `companion.losses`.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

__all__ = ["EMA", "apply_spectral_norm", "r1_penalty"]


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Spectrally normalise every Conv and Linear weight of ``module`` in place; returns it."""
    from torch.nn.utils.parametrizations import spectral_norm

    for name, child in list(module.named_children()):
        if isinstance(child, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            setattr(module, name, spectral_norm(child))
        else:
            apply_spectral_norm(child)
    return module


# --8<-- [start:r1]
def r1_penalty(discriminator: nn.Module, real: Tensor) -> Tensor:
    r"""The R1 penalty without its weight: $\frac12\,\mathbb E \lVert \nabla_x D(x) \rVert^2$ over a real batch.

    Differentiable in D's weights (the gradient is taken with ``create_graph``); multiply by $\gamma$.

    Args:
        discriminator: Maps (B, C, H, W) to (B,) outputs.
        real: (B, C, H, W) real images.

    Returns:
        A scalar.
    """
    x = real.detach().requires_grad_(True)
    out = discriminator(x).float()
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return 0.5 * grad.float().square().flatten(1).sum(1).mean()


# --8<-- [end:r1]


class EMA:
    r"""An exponential moving average of a module's parameters (buffers copied), with a warm-up.

    After the generator's $t$-th step ($t = 0, 1, \dots$):

    $$\bar\theta \leftarrow \beta_t\,\bar\theta + (1 - \beta_t)\,\theta, \qquad
    \beta_t = \min\Big(\beta, \frac{1 + t}{10 + t}\Big).$$

    Why the warm-up: a plain average started from G's random initialisation keeps the weight
    $\beta^{t}$ on it, still 15% after 1,872 steps (4 MNIST epochs) at $\beta = 0.999$, and its samples
    are blurred by it. With the warm-up (TensorFlow's ``ExponentialMovingAverage(num_updates=t)``; the
    "EMA ramp-up" of Karras et al.'s StyleGAN code in spirit) the early average follows G closely and
    the full $\beta$ applies from $t \approx 9{,}000$ on.

    Args:
        module: The model whose weights are averaged.
        decay: $\beta$, in [0, 1).
    """

    def __init__(self, module: nn.Module, decay: float) -> None:
        self.decay = decay
        self.module = copy.deepcopy(module).eval().requires_grad_(False)

    # --8<-- [start:ema]
    def decay_at(self, step: int) -> float:
        r"""$\beta_t$ for the update after step ``step`` (0-based)."""
        return min(self.decay, (1 + step) / (10 + step))

    @torch.no_grad()
    def update(self, module: nn.Module, step: int) -> None:
        """Average in ``module``'s weights after its ``step``-th update (0-based; the trainer's step count)."""
        beta = self.decay_at(step)
        for avg, p in zip(self.module.parameters(), module.parameters()):
            avg.lerp_(p.detach(), 1 - beta)  # avg + (1 - beta) (p - avg)
        for avg, b in zip(self.module.buffers(), module.buffers()):
            avg.copy_(b)

    # --8<-- [end:ema]

    def state_dict(self) -> dict[str, Tensor]:
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.module.load_state_dict(state)

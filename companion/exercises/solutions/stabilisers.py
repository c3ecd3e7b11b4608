"""Chapter 4, the stabilisers: reference solutions."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


# --8<-- [start:hinge_losses]
def hinge_losses(real_logits: Tensor, fake_logits: Tensor) -> tuple[Tensor, Tensor]:
    r"""The hinge losses of D and G (Lim & Ye, 2017; Miyato et al., 2018), from D's raw outputs $a$.

    $$L_D = \mathbb E_{x}\max(0, 1 - a(x)) + \mathbb E_{z}\max(0, 1 + a(G(z))), \qquad
    L_G = -\mathbb E_{z}\, a(G(z)).$$

    Args:
        real_logits: (B,) D's outputs on real images.
        fake_logits: (B,) D's outputs on generated images.

    Returns:
        ($L_D$, $L_G$), two scalars (means over the batch).
    """
    d_loss = F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
    g_loss = -fake_logits.mean()
    return d_loss, g_loss


# --8<-- [end:hinge_losses]


# --8<-- [start:spectral_norm_estimate]
def spectral_norm_estimate(weight: Tensor, u: Tensor, iters: int = 1) -> tuple[Tensor, Tensor]:
    r"""Estimate the largest singular value $\sigma(W)$ by power iteration (Miyato et al., 2018).

    Each iteration: $v \leftarrow W^\top u / \lVert W^\top u \rVert$, $u \leftarrow W v / \lVert W v \rVert$;
    then $\sigma \approx u^\top W v$. Spectral normalisation divides $W$ by this estimate, keeping $u$
    from one training step to the next so that one iteration per step suffices.

    Args:
        weight: (m, n) matrix (a convolution's kernel reshaped to (out, in x k x k)).
        u: (m,) starting vector, not necessarily of unit norm.
        iters: Number of power iterations, >= 1.

    Returns:
        ($\sigma$ as a scalar, the updated unit vector $u$ of shape (m,)).
    """
    for _ in range(iters):
        v = weight.T @ u
        v = v / v.norm()
        u = weight @ v
        u = u / u.norm()
    return u @ weight @ v, u


# --8<-- [end:spectral_norm_estimate]


# --8<-- [start:ema_update]
@torch.no_grad()
def ema_update(average: list[Tensor], params: list[Tensor], step: int, decay: float) -> None:
    r"""One update of an exponential moving average of weights, in place, with the warm-up.

    $$\bar\theta \leftarrow \beta_t\,\bar\theta + (1 - \beta_t)\,\theta, \qquad
    \beta_t = \min\Big(\beta, \frac{1 + t}{10 + t}\Big),$$

    $t = 0, 1, \dots$ the number of updates made before this one.

    Args:
        average: The averaged tensors $\bar\theta$, updated in place.
        params: The current weights $\theta$, same shapes.
        step: $t$.
        decay: $\beta$ in [0, 1).
    """
    beta = min(decay, (1 + step) / (10 + step))
    for avg, p in zip(average, params):
        avg.mul_(beta).add_(p, alpha=1 - beta)


# --8<-- [end:ema_update]


# --8<-- [start:r1_penalty]
def r1_penalty(discriminator: nn.Module, real: Tensor) -> Tensor:
    r"""The R1 penalty without its weight: $\frac12\,\mathbb E_x \lVert \nabla_x D(x) \rVert^2$ (Mescheder 2018).

    The gradient with respect to the images must itself be differentiable in D's weights
    (``create_graph=True``): the penalty is part of D's loss.

    Args:
        discriminator: Maps (B, C, H, W) images to (B,) raw outputs.
        real: (B, C, H, W) real images.

    Returns:
        A scalar: half the squared gradient norm per image (summed over its pixels), averaged over the batch.
    """
    x = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(discriminator(x).sum(), x, create_graph=True)
    return 0.5 * grad.square().flatten(1).sum(1).mean()


# --8<-- [end:r1_penalty]

r"""The order of min and max: in general $\max_D \min_G V \le \min_G \max_D V$, and what differs for a GAN.

Two parts.

**Games where the order changes the value.** For any $f$,
$\max_x \min_y f(x, y) \le \min_y \max_x f(x, y)$ (the player who moves second has the
advantage), and the inequality can be strict: in matching pennies with pure strategies
$-1 < 1$; for $f(x, y) = (x - y)^2$ on $[0, 1]^2$, $0 < \tfrac14$.

**The GAN game on a line: same value, different solution.** Distributions live on a grid of
points $x_i$, $p_{data}$ is a mixture of two Gaussians, the generator may put its mass $p_g$
anywhere on the grid and the discriminator is any function $D: x_i \mapsto (0, 1)$. With

$$
V(D, G) = \sum_i p_{data}(x_i) \log D(x_i) + \sum_i p_g(x_i) \log(1 - D(x_i)),
$$

V is linear in $p_g$ and concave in $D$, and both orders have the *same value*, $-\log 4$.

*min over G of max over D* (Goodfellow et al., 2014): the inner maximum is attained at
$D^*(x) = p_{data}(x) / (p_{data}(x) + p_g(x))$ with value $2\,\mathrm{JS}(p_{data} \| p_g) - \log 4$,
so the outer minimum is $-\log 4$, attained only at $p_g = p_{data}$: this order returns the data
distribution.

*max over D of min over G*: for a fixed $D$ the inner minimum is
$\sum_i p_{data} \log D + \log(1 - \max D)$, attained by any $p_g$ supported on $\arg\max D$. The
outer maximum is attained at the constant $D \equiv \tfrac12$, value again $-\log 4$. Against that
$D$, $V(\tfrac12, G) = -\log 4$ for *every* $p_g$: every generator is a best response, $p_{data}$
and a point mass alike. This order determines the discriminator (a blind one) but not the
generator; a solver that breaks the tie by taking the first $\arg\max$ returns a point mass,
another tie-break returns something else. What this order fails to deliver is a reason to
prefer $p_{data}$.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "GAMES_2D",
    "PLAY_DEFAULTS",
    "Grid1D",
    "argmax_set",
    "best_response_generator",
    "game_gradient",
    "gradient_play",
    "gradient_play_2d",
    "js_divergence",
    "make_problem",
    "matching_pennies",
    "max_d_min_g",
    "min_g_max_d",
    "optimal_discriminator",
    "pure_game_values",
    "squared_distance_game",
    "value",
]

LOG4 = math.log(4)


def pure_game_values(payoff: np.ndarray) -> tuple[float, float]:
    """Exact (max_x min_y f, min_y max_x f) for a payoff matrix f[x, y] (x maximises, y minimises)."""
    return float(payoff.min(axis=1).max()), float(payoff.max(axis=0).min())


def matching_pennies() -> np.ndarray:
    """f[x, y] = +1 if the pennies match, -1 otherwise; x wants a match, y a mismatch."""
    return np.array([[1.0, -1.0], [-1.0, 1.0]])


def squared_distance_game(n: int = 101) -> np.ndarray:
    """f(x, y) = (x - y)^2 on an n-point grid of [0, 1]^2 (x maximises, y minimises)."""
    t = np.linspace(0, 1, n)
    return (t[:, None] - t[None, :]) ** 2


@dataclass(frozen=True)
class Grid1D:
    """A 1-D problem: grid points and the data distribution on them (float64 tensors)."""

    x: torch.Tensor  # (n,)
    p_data: torch.Tensor  # (n,), sums to 1


def make_problem(n: int = 241, means: tuple[float, float] = (-2.0, 2.0), std: float = 0.5) -> Grid1D:
    """p_data: an equal mixture of N(means[0], std^2) and N(means[1], std^2) on [-6, 6]."""
    x = torch.linspace(-6, 6, n, dtype=torch.float64)
    dens = sum(torch.exp(-0.5 * ((x - m) / std) ** 2) for m in means)
    return Grid1D(x, dens / dens.sum())


def js_divergence(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Jensen-Shannon divergence in nats, in [0, log 2]."""
    m = (p + q) / 2

    def kl(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        mask = a > 0
        return (a[mask] * (a[mask] / b[mask]).log()).sum()

    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def value(p_data: torch.Tensor, p_g: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """V(D, G) = sum p_data log D + sum p_g log(1 - D), with 0 log 0 = 0."""
    t1 = torch.where(p_data > 0, p_data * d.log(), torch.zeros_like(d))
    t2 = torch.where(p_g > 0, p_g * (1 - d).log(), torch.zeros_like(d))
    return t1.sum() + t2.sum()


def optimal_discriminator(p_data: torch.Tensor, p_g: torch.Tensor) -> torch.Tensor:
    """D*(x) = p_data / (p_data + p_g) (1/2 where both vanish, where D does not matter)."""
    total = p_data + p_g
    return torch.where(total > 0, p_data / total.clamp_min(1e-300), torch.full_like(total, 0.5))


def argmax_set(d: torch.Tensor, rtol: float = 1e-9) -> torch.Tensor:
    """Boolean mask of the points where D is maximal (within ``rtol``): where best responses put their mass."""
    top = d.max()
    return d >= top - rtol * top.abs()


def best_response_generator(d: torch.Tensor, tie: str = "first") -> torch.Tensor:
    """A minimiser over p_g of V(D, G) for fixed D: all mass on argmax D.

    When D attains its maximum at several points, every distribution on them is a best
    response; ``tie`` picks one: ``first`` or ``last`` (a point mass at the first or last
    maximiser) or ``spread`` (uniform over all maximisers).
    """
    top = argmax_set(d)
    idx = torch.nonzero(top).flatten()
    p = torch.zeros_like(d)
    if tie == "first":
        p[idx[0]] = 1.0
    elif tie == "last":
        p[idx[-1]] = 1.0
    elif tie == "spread":
        p[idx] = 1.0 / len(idx)
    else:
        raise ValueError(f"unknown tie-break '{tie}'; choose first, last or spread")
    return p


# --8<-- [start:min_g_max_d]
def min_g_max_d(problem: Grid1D, steps: int = 3000, lr: float = 0.05) -> dict[str, object]:
    """The right order: minimise C(G) = max_D V(D, G) = V(D*_G, G) over p_g = softmax(w).

    The inner max is exact (D* in closed form), so this is plain gradient descent on C.
    Starts from a point mass-like p_g at the left edge.
    """
    w = torch.full_like(problem.x, -10.0)
    w[0] = 10.0
    w.requires_grad_(True)
    opt = torch.optim.Adam([w], lr=lr)
    history = []
    for _ in range(steps):
        p_g = torch.softmax(w, 0)
        c = value(problem.p_data, p_g, optimal_discriminator(problem.p_data, p_g))
        opt.zero_grad()
        c.backward()
        opt.step()
        history.append(c.item())
    p_g = torch.softmax(w.detach(), 0)
    d = optimal_discriminator(problem.p_data, p_g)
    return {
        "p_g": p_g,
        "d": d,
        "value": float(value(problem.p_data, p_g, d)),
        "history": history,
        "js": float(js_divergence(problem.p_data, p_g)),
    }


# --8<-- [end:min_g_max_d]


# --8<-- [start:max_d_min_g]
def max_d_min_g(problem: Grid1D, steps: int = 3000, lr: float = 0.05, seed: int = 0) -> dict[str, object]:
    """The wrong order: maximise phi(D) = min_G V(D, G) over all discriminators D.

    The inner min is exact: min_G V = sum p_data log D + log(1 - max D), all of p_g on argmax D.
    The max over D is non-smooth, so D is written as D = m * sigmoid(v) with m = sigmoid(s)
    an explicit ceiling (max D <= m, equality in the limit); gradient ascent on (s, v) then
    drives D to the constant 1/2. The generator returned is one of the inner problem's answers
    for that D (the first-argmax point mass); `best_response_generator` shows the others.
    """
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(problem.x.shape, generator=g, dtype=torch.float64).requires_grad_(True)
    s = torch.zeros((), dtype=torch.float64, requires_grad=True)
    # eps far below the default: p_data's Gaussian tails give gradients of 1e-14 that must still move D.
    opt = torch.optim.Adam([v, s], lr=lr, eps=1e-300)
    history = []
    for _ in range(steps):
        m = torch.sigmoid(s)
        phi = (problem.p_data * (m.log() + torch.nn.functional.logsigmoid(v))).sum() + torch.log1p(-m)
        opt.zero_grad()
        (-phi).backward()
        opt.step()
        history.append(phi.item())
    d = (torch.sigmoid(s) * torch.sigmoid(v)).detach()
    p_g = best_response_generator(d)
    return {
        "p_g": p_g,
        "d": d,
        "value": float(value(problem.p_data, p_g, d)),
        "history": history,
        "js": float(js_divergence(problem.p_data, p_g)),
    }


# --8<-- [end:max_d_min_g]


def gradient_play(
    problem: Grid1D,
    steps: int = 4000,
    lr_d: float = 0.05,
    lr_g: float = 0.05,
    generator: str = "gradient",
    snapshots: int = 8,
) -> dict[str, object]:
    """Alternating play: one gradient-ascent step for D = sigmoid(u), then the generator moves.

    ``generator="gradient"``: one gradient-descent step on p_g = softmax(w), as GANs are trained.
    ``generator="best_response"``: p_g jumps to an exact minimiser for the current D, a point
    mass on argmax D. It hops from place to place and never spreads over both modes.

    What the two runs show is an observation about this game and these step sizes (the book
    measures it); no general claim that gradient play approximates either order is made.

    Returns:
        ``js``: JS(p_data || p_g) after every round; ``snapshots``: p_g at evenly spaced rounds;
        ``mass_at``: the grid index of p_g's largest mass after every round; ``on_argmax``: whether
        that point is a maximiser of the D the generator faced in that round.
    """
    u = torch.zeros_like(problem.x, requires_grad=True)
    w = torch.zeros_like(problem.x)
    w[: len(w) // 6] = 3.0  # start with the mass on the far left
    w.requires_grad_(True)
    opt_d = torch.optim.SGD([u], lr=lr_d * len(problem.x))
    opt_g = torch.optim.SGD([w], lr=lr_g * len(problem.x))
    js, snaps, mass_at, on_argmax = [], [], [], []
    every = max(1, steps // snapshots)
    for t in range(steps):
        d = torch.sigmoid(u)
        v = value(problem.p_data, torch.softmax(w, 0).detach(), d)
        opt_d.zero_grad()
        (-v).backward()
        opt_d.step()
        faced = torch.sigmoid(u.detach())
        if generator == "best_response":
            p_g = best_response_generator(torch.sigmoid(u.detach()))
            with torch.no_grad():  # keep w consistent with the point mass (softmax of a spike)
                w.copy_(torch.where(p_g > 0, 0.0, -800.0))
        else:
            p_g = torch.softmax(w, 0)
            v = value(problem.p_data, p_g, torch.sigmoid(u).detach())
            opt_g.zero_grad()
            v.backward()
            opt_g.step()
        p_g = torch.softmax(w.detach(), 0)
        js.append(float(js_divergence(problem.p_data, p_g)))
        mass_at.append(int(torch.argmax(p_g)))
        on_argmax.append(bool(argmax_set(faced)[mass_at[-1]]))
        if t % every == every - 1:
            snaps.append(p_g.clone())
    return {
        "js": js,
        "snapshots": snaps,
        "mass_at": mass_at,
        "on_argmax": on_argmax,
        "p_g": torch.softmax(w.detach(), 0),
        "d": torch.sigmoid(u.detach()),
    }


# --8<-- [start:play2d]
#: Zero-sum games on the plane: the first player (x) minimises f, the second (y) maximises it.
GAMES_2D = {
    "bilinear": "f(x, y) = x y: one equilibrium, (0, 0)",
    "squared distance": "f(x, y) = (x - y)^2 on [0, 1]^2: no pure equilibrium (max-min 0 < min-max 1/4)",
}


def game_gradient(game: str, x: float, y: float) -> tuple[float, float]:
    """(df/dx, df/dy) of a game of `GAMES_2D` at (x, y)."""
    if game == "bilinear":
        return y, x
    if game == "squared distance":
        return 2 * (x - y), -2 * (x - y)
    raise ValueError(f"unknown game {game!r}; choose from {', '.join(GAMES_2D)}")


def gradient_play_2d(game: str, x0: float, y0: float, lr: float, steps: int, mode: str) -> list[tuple[float, float]]:
    r"""Gradient play: x descends f, y ascends it, with step ``lr``; the trajectory of ``steps`` rounds.

    ``simultaneous``: both step from the same point,
    $(x, y) \leftarrow (x - \eta f_x(x, y),\; y + \eta f_y(x, y))$.
    ``alternating``: x steps first and y answers the new x,
    $x \leftarrow x - \eta f_x(x, y)$, then $y \leftarrow y + \eta f_y(x, y)$ with the new x
    (as GAN training alternates D and G steps). On the squared-distance game both stay in
    $[0, 1]$ (each coordinate clipped after its step).

    Returns:
        steps + 1 points (x, y), the start first (plain floats: the browser repeats this arithmetic).
    """
    box = game == "squared distance"
    clip = (lambda v: min(1.0, max(0.0, v))) if box else (lambda v: v)
    x, y = float(x0), float(y0)
    path = [(x, y)]
    for _ in range(steps):
        fx, fy = game_gradient(game, x, y)
        if mode == "simultaneous":
            x, y = clip(x - lr * fx), clip(y + lr * fy)
        elif mode == "alternating":
            x = clip(x - lr * fx)
            y = clip(y + lr * game_gradient(game, x, y)[1])
        else:
            raise ValueError(f"unknown mode {mode!r}; choose simultaneous or alternating")
        path.append((x, y))
    return path


#: The playground's starting settings (the chapter's static figure uses them too).
PLAY_DEFAULTS = {
    "bilinear": {"x0": 1.0, "y0": 0.5, "lr": 0.1, "steps": 150},
    "squared distance": {"x0": 0.3, "y0": 0.6, "lr": 0.05, "steps": 150},
}
# --8<-- [end:play2d]

r"""Samplers for a model that has none: GLO's codes, fitted afterwards three ways.

GLO learns one code per training image and nothing about where new codes should come from.
Three ways to draw them, all fitted to the learned codes $\{z_i\}$ (on the sphere of radius $\sqrt d$):

* **A Gaussian** with full covariance (the GLO paper's way): $z \sim \mathcal N(\hat\mu, \hat\Sigma)$
  with the codes' mean and (unbiased) covariance, put back on the sphere. Its log-density
  `GaussianCodes.log_density` is a density over **codes**, not over images.
* **A mixture of Gaussians** (`MixtureCodes`, the ex-post density of Ghosh et al., 2020, "From variational
  to deterministic autoencoders", who fit a 10-component mixture to a regularised autoencoder's codes):
  k-means splits the codes into $k$ clusters, and each cluster gets its share of the codes as weight and
  its own mean and full covariance. One Gaussian over GLO's codes puts most of its mass where no code
  is (its samples lie farther from the nearest code than codes lie from each other) and G draws
  scribbles there; a mixture keeps its mass near the codes' clusters.
* **IMLE** (Li & Malik, 2018; GLANN, Hoshen, Li & Malik, 2019): a small network $T$ maps noise
  $e \sim \mathcal N(0, I)$ to codes. Codes are matched ``match_size`` at a time against one pool of
  ``match_size * candidates`` mapped noise vectors: each code's nearest sample (`nearest_neighbours`); then
  $T$ takes steps of ``batch_size`` pairs, pulling each matched sample towards its code:
  $\min_T \sum_i \lVert T(e_{\mathrm{nn}(i)}) - z_i \rVert^2$. Every code gets a sample near it, so the
  mapper cannot drop a mode the way a GAN can. How near is what matters: the matched sample is pulled towards
  every code that picks it, so $T$ learns a blend of the codes around it, as precise as a code and poorer in
  styles (lower recall, `companion.coverage`). A pool of one batch (256 codes, 4 candidates each: 1,024
  samples for 60,000 codes), were its samples spread like the codes, would hold none nearer to a code than
  about its 60th nearest code; a pool shared by 16,384 codes (65,536 samples), one about as near as its nearest
  code, for the same mapping cost per code (``benchmarks/glo_samplers.py``; chapter 5, "What IMLE misses").
  Unmatched noise is pulled nowhere, and decodes to whatever G draws there; with ReLUs one such region
  collapsed to a point that G drew as an empty image (`CodeMapper`); leaky units removed it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from companion.glo import project_to_sphere
from companion.options import check_finite_positive, check_nonnegative, check_positive, check_seed

__all__ = [
    "SAMPLERS",
    "CodeMapper",
    "GaussianCodes",
    "IMLEConfig",
    "MixtureCodes",
    "MixtureConfig",
    "kmeans",
    "load_samplers",
    "nearest_neighbours",
    "sampler_state",
    "store_samplers",
    "train_imle",
]

#: The fitted samplers of a GLO model, by ``--sampler`` name.
SAMPLERS = ("imle", "gmm", "gaussian")


@dataclass
class GaussianCodes:
    """A full-covariance Gaussian fitted to codes (N, d): mean (d,), covariance (d, d), both float64."""

    mean: Tensor
    cov: Tensor

    @classmethod
    def fit(cls, codes: Tensor) -> GaussianCodes:
        """The sample mean and the unbiased sample covariance (divided by N - 1)."""
        z = codes.double()
        mean = z.mean(0)
        centred = z - mean
        return cls(mean, centred.T @ centred / (z.shape[0] - 1))

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """n codes: mu + L e with L L^T = Sigma (Cholesky, jittered if needed), on the sphere. (n, d) float32."""
        d = self.mean.shape[0]
        eye = torch.eye(d, dtype=torch.float64)
        chol, info = torch.linalg.cholesky_ex(self.cov)
        if int(info):
            chol = torch.linalg.cholesky(self.cov + 1e-6 * eye * float(self.cov.diagonal().mean()))
        e = torch.randn(n, d, generator=generator, dtype=torch.float64)
        return project_to_sphere((self.mean + e @ chol.T).float())

    def log_density(self, z: Tensor) -> Tensor:
        r"""$\log \mathcal N(z; \hat\mu, \hat\Sigma)$ per code, in nats: (N, d) -> (N,) float64."""
        d = self.mean.shape[0]
        diff = z.double() - self.mean
        chol = torch.linalg.cholesky(self.cov)
        sol = torch.linalg.solve_triangular(chol, diff.T, upper=False)
        logdet = 2 * chol.diagonal().log().sum()
        return -0.5 * (sol.square().sum(0) + logdet + d * math.log(2 * math.pi))


@dataclass(frozen=True)
class MixtureConfig:
    """The mixture sampler: how many components, and the k-means that finds them."""

    components: int = 100  # chosen on training digits (see `MixtureCodes`); 10 is the RAE paper's
    iters: int = 30  # Lloyd iterations after k-means++ seeding
    seed: int = 0

    def __post_init__(self) -> None:
        check_positive(self, "components", "iters")
        check_seed(self)


def kmeans(x: Tensor, k: int, iters: int = 30, seed: int = 0) -> tuple[Tensor, Tensor]:
    """k-means of points x (N, d): k-means++ seeding (Arthur & Vassilvitskii, 2007), then Lloyd's iterations.

    Returns (centres (k, d), assignment (N,) long). A centre that loses all its points stays where it was.
    """
    g = torch.Generator().manual_seed(seed)
    x = x.double()
    centres = x[torch.randint(0, x.shape[0], (1,), generator=g)]
    d2 = (x - centres[0]).square().sum(1)
    for _ in range(1, k):  # the next centre with probability proportional to its squared distance
        nxt = x[torch.multinomial(d2.clamp_min(0) + 1e-30, 1, generator=g)]
        centres = torch.cat([centres, nxt])
        d2 = torch.minimum(d2, (x - nxt[0]).square().sum(1))
    for _ in range(iters):
        assign = torch.cdist(x, centres).argmin(1)
        counts = torch.bincount(assign, minlength=k).double()
        sums = torch.zeros_like(centres).index_add_(0, assign, x)
        centres = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None], centres)
    return centres, torch.cdist(x, centres).argmin(1)


@dataclass
class MixtureCodes:
    r"""A mixture of Gaussians over codes: $p(z) = \sum_j \pi_j \mathcal N(z; \mu_j, \Sigma_j)$, float64.

    Fitted by k-means (a hard-assignment EM): $\pi_j = n_j / N$, $\mu_j$ the mean of cluster $j$, and
    $\Sigma_j = (S_j + d\,\hat\Sigma) / (n_j - 1 + d)$, with $S_j$ the cluster's scatter matrix and
    $\hat\Sigma$ the covariance of all codes: the cluster's own covariance, pulled towards the global one
    as if $d$ more points had that spread (the mean of an inverse-Wishart posterior), so that a cluster
    with fewer than $d$ codes still has a full-rank covariance. Shapes: weights (k,), means (k, d),
    chol (k, d, d), the lower Cholesky factors of the $\Sigma_j$.

    The number of components was chosen on training digits, never the test digits (``book:glo``'s codes;
    FID of 2,000 samples against the first 10,000 training digits, in the book's classifier features):
    k = 1 (one Gaussian) 322.9 with 9 classes; k = 10, 25, 50, 100, 200: 90.0, 51.4, 34.1, 29.9, 26.4, all
    10 classes, no blank sample (IMLE's mapper on the same codes: 51.2, with 4% blank). 100 is where one more
    doubling gains less than 4 points; the mixture's factors take 4 MB in float32 (k d^2 numbers), and a
    mixture with a component per code would be a kernel density estimate that redraws the training codes.
    """

    weights: Tensor
    means: Tensor
    chol: Tensor

    @classmethod
    def fit(cls, codes: Tensor, cfg: MixtureConfig = MixtureConfig()) -> MixtureCodes:
        z = codes.double()
        n, d = z.shape
        k = min(cfg.components, n)
        _, assign = kmeans(z, k, cfg.iters, cfg.seed)
        glob = torch.cov(z.T).reshape(d, d)
        weights, means, chols = [], [], []
        for j in range(k):
            zj = z[assign == j]
            if zj.shape[0] == 0:
                continue
            mu = zj.mean(0)
            scatter = (zj - mu).T @ (zj - mu)
            cov = (scatter + d * glob) / (zj.shape[0] - 1 + d)
            weights.append(zj.shape[0] / n)
            means.append(mu)
            chols.append(torch.linalg.cholesky(cov + 1e-9 * float(cov.diagonal().mean()) * torch.eye(d, dtype=z.dtype)))
        return cls(torch.tensor(weights, dtype=torch.float64), torch.stack(means), torch.stack(chols))

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """n codes: a component j ~ pi, then mu_j + L_j e, put on the sphere. (n, d) float32."""
        comp = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        e = torch.randn(n, self.means.shape[1], generator=generator, dtype=torch.float64)
        z = self.means[comp] + torch.einsum("nij,nj->ni", self.chol[comp], e)
        return project_to_sphere(z.float())

    def log_density(self, z: Tensor) -> Tensor:
        r"""$\log \sum_j \pi_j \mathcal N(z; \mu_j, \Sigma_j)$ per code, in nats: (N, d) -> (N,) float64."""
        d = self.means.shape[1]
        diff = z.double()[None] - self.means[:, None]  # (k, N, d)
        sol = torch.linalg.solve_triangular(self.chol, diff.transpose(1, 2), upper=False)  # (k, d, N)
        logdet = 2 * self.chol.diagonal(dim1=1, dim2=2).log().sum(1)  # (k,)
        comp = -0.5 * (sol.square().sum(1) + logdet[:, None] + d * math.log(2 * math.pi))  # (k, N)
        return torch.logsumexp(comp + self.weights.log()[:, None], dim=0)


# --8<-- [start:imle]
def nearest_neighbours(queries: Tensor, candidates: Tensor, block: int = 2048) -> Tensor:
    r"""For every query (N, d), the index of its nearest candidate (M, d) in Euclidean distance. (N,) long.

    $\arg\min_j \lVert q - c_j \rVert^2 = \arg\min_j (\lVert c_j \rVert^2 - 2 q \cdot c_j)$, in blocks of
    ``block`` queries by ``block`` candidates: the distance matrix of a shared IMLE pool (4,096 codes by 131,072
    samples: 2 GB) never exists at once, and each block stays in the cache (2.7x faster than `torch.cdist` there).
    """
    sq = candidates.square().sum(1)
    out = []
    for q in queries.split(block):
        best = torch.full((q.shape[0],), float("inf"), dtype=q.dtype, device=q.device)
        arg = torch.zeros(q.shape[0], dtype=torch.long, device=q.device)
        for first in range(0, candidates.shape[0], block):
            part = candidates[first : first + block]
            value, index = torch.addmm(sq[first : first + block], q, part.T, alpha=-2).min(1)
            nearer = value < best
            best, arg = torch.where(nearer, value, best), torch.where(nearer, index + first, arg)
        out.append(arg)
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long, device=queries.device)


# --8<-- [end:imle]


@dataclass(frozen=True)
class IMLEConfig:
    """GLANN's second stage: a mapper from noise to codes trained by implicit maximum likelihood."""

    # The defaults were chosen on a GLO run trained again with the book's settings, FID of 5,000 samples
    # against training digits (benchmarks/glo_samplers.py; chapter 5, "What IMLE misses"). A code's matched
    # sample is a blend of the codes near it: the nearer the pool lets it be, the fewer codes it averages, and
    # the more of the digits' styles survive. book:glo's mapper (16-d noise, 4 candidates per batch of 256
    # codes, 100 epochs, constant lr) refitted on that run: FID 44.3, recall 0.387; these defaults: 25.0, 0.721.
    noise_dim: int = 100  # as wide as the codes: a 16-d noise had lost recall at every pool size tried
    hidden: int = 512
    epochs: int = 60  # passes over the codes (30 -> 60 with the pool below: FID 27.7 -> 25.0, with cosine)
    batch_size: int = 256  # codes per step
    candidates: int = 4  # noise samples per code, all in the shared pool
    match_size: int = 16384  # codes matched at once against one pool of match_size * candidates samples; 0: batch_size
    lr: float = 1e-3
    schedule: str = "cosine"  # constant | cosine: the learning rate falls to 0 over all the steps
    seed: int = 0
    activation: str = "leaky_relu"  # relu | leaky_relu (slope 0.2): see `CodeMapper`

    def __post_init__(self) -> None:
        from companion.options import check_choice

        check_positive(self, "noise_dim", "hidden", "epochs", "batch_size", "candidates")
        check_nonnegative(self, "match_size")  # 0: the batch size
        check_finite_positive(self, "lr")
        check_choice("activation", self.activation, ("relu", "leaky_relu"))
        check_choice("schedule", self.schedule, ("constant", "cosine"))
        check_seed(self)


class CodeMapper(nn.Module):
    """T: noise (B, e) -> codes (B, d) on the sphere of radius sqrt(d); a 3-layer MLP.

    Leaky ReLUs (slope 0.2), not ReLUs: with ReLUs, a region of noise where every unit of the second layer
    is off maps to the last layer's bias alone, one point, which the projection blows up to the sphere.
    IMLE never moves it (no code's nearest sample is there), and G decoded that point to an empty image:
    the 4.4 % blank samples of ``book:glo``'s first IMLE mapper were all this one code (its blank samples'
    output before the projection had norm 0.13, the others 7.6). A leaky unit is never flat, so no region
    of noise collapses to a point. ``activation="relu"`` loads mappers stored before.
    """

    def __init__(self, noise_dim: int, latent_dim: int, hidden: int = 512, activation: str = "leaky_relu") -> None:
        super().__init__()
        self.noise_dim = noise_dim

        def act() -> nn.Module:
            return nn.ReLU() if activation == "relu" else nn.LeakyReLU(0.2)

        self.net = nn.Sequential(
            nn.Linear(noise_dim, hidden), act(), nn.Linear(hidden, hidden), act(), nn.Linear(hidden, latent_dim)
        )

    def forward(self, e: Tensor) -> Tensor:
        return project_to_sphere(self.net(e))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """n codes from n fresh noise vectors."""
        return self(torch.randn(n, self.noise_dim, generator=generator).to(next(self.parameters()).device))


def train_imle(codes: Tensor, cfg: IMLEConfig = IMLEConfig(), progress: bool = False) -> tuple[CodeMapper, list[float]]:
    """Fit `CodeMapper` to ``codes`` (N, d) by IMLE; returns it (eval mode) and the mean matched distance per epoch.

    Each epoch takes the codes in a random order, ``match_size`` at a time: those codes are matched against
    one pool of ``match_size * candidates`` mapped noise vectors (each code's nearest sample), then the mapper
    takes steps of ``batch_size`` matched pairs over them. ``match_size == batch_size`` is one step per pool
    (the per-batch IMLE of GLANN's code); a larger ``match_size`` is Li & Malik's schedule, where a pool shared
    by many codes gives each a nearer sample for the same mapping cost per code, its pairs a few steps old.
    """
    from tqdm.auto import tqdm

    torch.manual_seed(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    mapper = CodeMapper(cfg.noise_dim, codes.shape[1], cfg.hidden, cfg.activation)
    opt = torch.optim.Adam(mapper.parameters(), cfg.lr)
    history = []
    n, b = codes.shape[0], cfg.batch_size
    m = cfg.match_size or b
    steps = cfg.epochs * sum((min(m, n - first) // b) for first in range(0, n - b + 1, m))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps) if cfg.schedule == "cosine" else None
    for _ in tqdm(range(cfg.epochs), disable=not progress, desc="IMLE"):
        perm = torch.randperm(n, generator=g)
        total, count = 0.0, 0
        for first in range(0, n - b + 1, m):
            zs = codes[perm[first : first + m]]
            zs = zs[: zs.shape[0] - zs.shape[0] % b]  # whole batches only
            e = torch.randn(zs.shape[0] * cfg.candidates, cfg.noise_dim, generator=g)
            with torch.no_grad():
                pool = torch.cat([mapper(part) for part in e.split(16384)])
                e_nn = e[nearest_neighbours(zs, pool)]
            for start in range(0, zs.shape[0], b):
                # Only the matched samples carry a gradient: map their noise again with autograd on, not all
                # candidates: the same loss and gradient, in less time (60 epochs with 16 candidates per code
                # and a 100-d noise, 2 CPU threads: 599 s mapping every candidate with autograd, 279 s so).
                loss = (mapper(e_nn[start : start + b]) - zs[start : start + b]).square().sum(1).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if sched is not None:
                    sched.step()
                total, count = total + loss.item(), count + 1
        history.append(math.sqrt(total / max(count, 1)))
    return mapper.eval(), history


def sampler_state(
    gauss: GaussianCodes,
    mapper: CodeMapper | None,
    cfg: IMLEConfig | None = None,
    mixture: MixtureCodes | None = None,
    mixture_cfg: MixtureConfig | None = None,
) -> dict:
    """The fitted samplers as checkpoint entries (tensors and plain data): stored once, in the GLO run.

    ``{"gaussian": {"mean", "cov"}, "gmm": {"config", "weights", "means", "chol"},
    "imle": {"config", "latent_dim", "mapper"}}`` (no ``imle`` without a mapper, no ``gmm`` without a mixture).
    """
    from dataclasses import asdict

    out: dict = {"gaussian": {"mean": gauss.mean, "cov": gauss.cov}}
    if mixture is not None:
        # float32 in the file (k d^2 numbers: 4 MB for the book's k = 100, d = 100); sampled in float64
        out["gmm"] = {"config": asdict(mixture_cfg or MixtureConfig()), "weights": mixture.weights,
                      "means": mixture.means.float(), "chol": mixture.chol.float()}  # fmt: skip
    if mapper is not None:
        out["imle"] = {
            "config": asdict(cfg or IMLEConfig()),
            "latent_dim": int(gauss.mean.shape[0]),
            "mapper": {k: v.detach().cpu() for k, v in mapper.state_dict().items()},
        }
    return out


def load_samplers(ck: dict) -> dict[str, Callable[[int, torch.Generator], Tensor]]:
    """Each fitted sampler of a GLO checkpoint dictionary, by name (`SAMPLERS` order): ``sample(n, rng) -> (n, d)``.

    A checkpoint that stores its samplers (``samplers``, written at the end of ``companion glo train``
    and shipped in ``book:glo``) gives them as fitted; an older run gives only the Gaussian, fitted
    here to its codes in a fraction of a second.
    """
    stored = ck.get("samplers")
    out: dict[str, Callable[[int, torch.Generator], Tensor]] = {}
    if stored is None:
        return {"gaussian": GaussianCodes.fit(ck["codes"]).sample}
    if "imle" in stored:
        imle = stored["imle"]
        # a field missing from an older file means what the code did before it existed
        cfg = IMLEConfig(**{"activation": "relu", "match_size": 0, "schedule": "constant", **imle["config"]})
        mapper = CodeMapper(cfg.noise_dim, int(imle["latent_dim"]), cfg.hidden, cfg.activation)
        mapper.load_state_dict(imle["mapper"])
        out["imle"] = mapper.eval().sample
    if "gmm" in stored:
        gmm = stored["gmm"]
        out["gmm"] = MixtureCodes(gmm["weights"].double(), gmm["means"].double(), gmm["chol"].double()).sample
    out["gaussian"] = GaussianCodes(stored["gaussian"]["mean"].double(), stored["gaussian"]["cov"].double()).sample
    return out


def store_samplers(
    path: str | os.PathLike[str],
    cfg: IMLEConfig = IMLEConfig(),
    data_dir: str | os.PathLike[str] | None = None,
    n_eval: int = 2000,
    progress: bool = False,
    mixture_cfg: MixtureConfig = MixtureConfig(),
) -> dict:
    """Fit every sampler to a GLO run's codes and store them in its checkpoint (atomically); returns them.

    An IMLE mapper already stored with the same `IMLEConfig` is kept (its fit is seeded: refitting gives
    the same mapper, minutes later). The default sampler (``companion sample`` without ``--sampler``) is
    the one with the lowest FID over ``n_eval`` samples in the book's classifier features against the
    first 10,000 **training** digits (the distribution a sampler should reproduce; the test digits, which
    the book reports, choose nothing), where the dataset has such a classifier (MNIST); elsewhere IMLE,
    which the GLANN paper found the better. The measurement is stored beside the samplers.
    """
    from dataclasses import asdict

    from companion.checkpoint import GLO_FORMAT, load_checkpoint, save_atomic

    ck = load_checkpoint(path, GLO_FORMAT, keys=("meta", "generator", "codes"))
    codes = ck["codes"].float()
    gauss = GaussianCodes.fit(codes)
    old = (ck.get("samplers") or {}).get("imle")
    if old is not None and old.get("config") == asdict(cfg) and "history" in old:
        mapper = CodeMapper(cfg.noise_dim, int(old["latent_dim"]), cfg.hidden, cfg.activation)
        mapper.load_state_dict(old["mapper"])
        mapper, history = mapper.eval(), old["history"].tolist()
    else:
        mapper, history = train_imle(codes, cfg, progress=progress)
    state = sampler_state(gauss, mapper, cfg, MixtureCodes.fit(codes, mixture_cfg), mixture_cfg)
    state["imle"]["history"] = torch.tensor(history)
    fid: dict = {}
    if ck["meta"].get("dataset") == "mnist":
        from companion.data import load_dataset
        from companion.metrics import FIDScorer, get_classifier
        from companion.models import ArchSpec, build_generator
        from companion.pixels import to_uint8

        G = build_generator(ArchSpec(**ck["meta"]["arch"]))
        G.load_state_dict(ck["generator"])
        G.eval()
        reference = load_dataset("mnist", "train", data_dir).images[:10000]
        scorer = FIDScorer(get_classifier("mnist", data_dir, "cpu", progress), reference)
        for name, law in load_samplers({**ck, "samplers": state}).items():
            with torch.no_grad():  # the samples as `companion sample` writes them: 8-bit grey levels
                images = to_uint8(G(law(n_eval, torch.Generator().manual_seed(0))))
            fid[name] = scorer.score_images(images)["fid"]
    state["default"] = min(fid, key=fid.get) if fid else "imle"
    state["fid"] = {k: float(v) for k, v in fid.items()}
    state["fid_samples"] = n_eval if fid else 0
    state["fid_reference"] = "the first 10,000 MNIST training digits" if fid else ""
    save_atomic({**{k: v for k, v in ck.items() if k != "sha256"}, "samplers": state}, path)
    return state

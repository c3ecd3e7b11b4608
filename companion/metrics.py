r"""Sample quality: FID in a digit classifier's features, mode coverage, PSNR/SSIM.

FID (Heusel et al., 2017) compares Gaussians fitted to features of real and
generated images:

$$
\mathrm{FID} = \lVert \mu_r - \mu_g \rVert^2
+ \mathrm{tr}\big(\Sigma_r + \Sigma_g - 2(\Sigma_r\Sigma_g)^{1/2}\big).
$$

Inception-v3 features describe photographs; for 28x28 digits the book uses the
128-d penultimate layer of `companion.models.DigitClassifier`, trained
here on the same dataset (``companion classifier train``). The arithmetic is
torchmetrics' ``FrechetInceptionDistance`` with that network as its feature
extractor. Numbers are therefore comparable within this book, not with
Inception-FID values from papers.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from companion.checkpoint import CLASSIFIER_FORMAT, load_checkpoint, load_state, save_atomic
from companion.data import load_dataset
from companion.errors import CompanionError, DataError
from companion.models import DigitClassifier
from companion.pixels import to_unit

__all__ = [
    "BLANK_GREY",
    "COVERAGE_MIN_SHARE",
    "FIDScorer",
    "accuracy",
    "blank_samples",
    "classifier_path",
    "fid_floor",
    "get_classifier",
    "load_classifier",
    "mode_coverage",
    "psnr",
    "ssim",
    "train_classifier",
]

#: A class counts as covered when at least this share of samples is classified as it (1/5 of uniform).
COVERAGE_MIN_SHARE = 0.02


def classifier_path(dataset: str) -> Path:
    """Where the cached classifier for ``dataset`` lives (user cache; data folders may be read-only)."""
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "companion" / "classifiers" / f"{dataset}.pt"


@torch.no_grad()
def accuracy(model: nn.Module, images: Tensor, labels: Tensor, batch: int = 1000) -> float:
    """Top-1 accuracy of ``model`` on float images (N, C, H, W) in [0, 1] (or uint8)."""
    model.eval()
    correct = 0
    for x, y in zip(images.split(batch), labels.split(batch)):
        x = to_unit(x)
        correct += int((model(x).argmax(1) == y).sum())
    return correct / max(1, len(labels))


def train_classifier(
    dataset: str = "mnist",
    data_dir: str | os.PathLike[str] | None = None,
    *,
    epochs: int = 3,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: bool = True,
    out: Path | None = None,
) -> tuple[DigitClassifier, float]:
    """Train the digit classifier on the book's training scaffold and cache it.

    Adam with a one-cycle schedule (peak lr 3e-3; torch's OneCycleLR starts at 3e-3 / 25),
    batch 128, random shifts of up to 2 pixels.

    Returns:
        The model (eval mode) and its test-set accuracy in [0, 1].
    """
    from companion.fsutil import check_output_file
    from companion.loop import Guard, run_epochs, steps_per_epoch

    device = torch.device(device)
    path = check_output_file(out or classifier_path(dataset), ".pt", what="the classifier file")
    train = load_dataset(dataset, "train", data_dir)
    test = load_dataset(dataset, "test", data_dir)
    if train.labels is None or test.labels is None:
        raise DataError(f"dataset '{dataset}' has no labels, so no classifier can be trained on it")
    steps = steps_per_epoch(len(train), 128)
    train, test = train.to(device), test.to(device)
    torch.manual_seed(seed)
    model = DigitClassifier(channels=train.shape[0]).to(device)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 3e-3, total_steps=epochs * steps)
    gen = torch.Generator().manual_seed(seed)

    def step(batch: tuple[Tensor, Tensor], row: Tensor) -> None:
        x, y = batch
        # Small random translations: cheap augmentation that keeps digits readable.
        dx, dy = torch.randint(-2, 3, (2,), generator=gen).tolist()
        x = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        row.copy_(loss.detach().reshape(1))

    model.train()
    run_epochs(
        fields=("loss",),
        step=step,
        batches=lambda: train.batches(128, gen, labels=True),
        steps=steps,
        start=0,
        epochs=epochs,
        batch_size=128,
        device=device,
        guard=Guard(watch=("loss",)),
        progress=progress,
        desc="classifier",
    )
    acc = accuracy(model, test.images, test.labels)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_atomic(
        {
            "format": CLASSIFIER_FORMAT,
            "dataset": dataset,
            "test_accuracy": acc,
            "channels": train.shape[0],
            "state": model.state_dict(),
        },
        path,
    )
    return model.eval(), acc


def load_classifier(path: str | os.PathLike[str], device: torch.device | str = "cpu") -> tuple[DigitClassifier, dict]:
    """Load a cached classifier; returns (model in eval mode, checkpoint info)."""
    ck = load_checkpoint(path, CLASSIFIER_FORMAT, keys=("channels", "state"))
    model = DigitClassifier(channels=int(ck["channels"]))
    load_state(model, ck["state"], path, "classifier")
    info = {k: v for k, v in ck.items() if k != "state"}
    return model.to(device).eval(), info


def get_classifier(
    dataset: str,
    data_dir: str | os.PathLike[str] | None = None,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> DigitClassifier:
    """The classifier for ``dataset``: the user's cached one, else the book's shipped one, else trained now.

    The cache is this package's own file in the user cache folder (``companion classifier train``
    writes it), so an unreadable or outdated one is replaced (it is recomputed deterministically from
    the seed). Where there is none, MNIST takes ``book:classifier-mnist``, the classifier behind every
    FID the book prints (its features), so no command trains one before it can score.
    """
    from companion.bookmodels import shipped

    path = classifier_path(dataset)
    if path.is_file():
        try:
            return load_classifier(path, device)[0]
        except CompanionError as exc:
            print(f"the cached classifier cannot be used ({exc}); training a new one", file=sys.stderr)
    elif shipped(f"classifier-{dataset}"):
        return load_classifier(f"book:classifier-{dataset}", device)[0]
    elif progress:
        print(f"no cached {dataset} classifier at {path}: training one (a few CPU minutes, once)")
    model, acc = train_classifier(
        dataset, data_dir, device=device, progress=progress, epochs=30 if dataset == "synthetic" else 3
    )
    if progress:
        print(f"classifier test accuracy {acc:.2%}, cached at {path}")
    return model


class _ClassifierFeatures(nn.Module):
    """Adapter for torchmetrics: float images in [0, 1] -> (N, 128) classifier features."""

    def __init__(self, classifier: DigitClassifier) -> None:
        super().__init__()
        self.classifier = classifier
        self.num_features = classifier.num_features

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier.features(x.float())


#: A sample whose brightest pixel is below this grey level is blank: nothing drawn at all.
BLANK_GREY = 32


def blank_samples(images: Tensor) -> int:
    """How many of the uint8 images (N, C, H, W), grey levels 0..255, are blank (brightest pixel < `BLANK_GREY`)."""
    return int((images.flatten(1).amax(1) < BLANK_GREY).sum())


def mode_coverage(predicted: Tensor, num_classes: int = 10) -> dict[str, Any]:
    """How evenly samples spread over the classes.

    Args:
        predicted: (N,) predicted class indices of generated samples.

    Returns:
        ``modes``: classes with at least `COVERAGE_MIN_SHARE` of the samples;
        ``class_kl``: KL(p_hat || uniform) in nats (0 = perfectly even, log 10 = one class);
        ``class_hist``: the share of each class.
    """
    hist = torch.bincount(predicted.cpu(), minlength=num_classes).double()
    p = hist / hist.sum()
    kl = float((p[p > 0] * (p[p > 0] * num_classes).log()).sum())
    return {
        "modes": int((p >= COVERAGE_MIN_SHARE).sum()),
        "class_kl": kl,
        "class_hist": [round(float(v), 4) for v in p],
    }


class FIDScorer:
    """FID and mode coverage of a generator against a fixed real set.

    Real features are computed once; each call generates ``n`` images from the
    same seeded latents, so successive epochs are compared on equal terms.

    Args:
        classifier: Feature extractor and judge (see module docstring).
        real: Real images (N, C, H, W) uint8, e.g. the 10,000 MNIST test digits.
        device: Where to compute.
        features: ``"classifier"`` (default) or ``"inception"`` (needs torch-fidelity and its weights).
    """

    def __init__(
        self,
        classifier: DigitClassifier | None,
        real: Tensor,
        device: torch.device | str = "cpu",
        features: str = "classifier",
        batch: int = 500,
    ) -> None:
        from torchmetrics.image.fid import FrechetInceptionDistance

        self.device, self.batch, self.classifier, self.features = torch.device(device), batch, classifier, features
        if features == "classifier":
            if classifier is None:
                raise CompanionError("classifier FID needs a trained classifier")
            self.classifier = classifier.to(self.device).eval()
            extractor: nn.Module | int = _ClassifierFeatures(self.classifier)
        elif features == "inception":
            extractor = 2048
        else:
            raise CompanionError(f"unknown FID features '{features}'; choose classifier or inception")
        try:
            # Under torchrun only rank 0 scores; torchmetrics would otherwise wait in a collective
            # for ranks that never call compute() (a deadlock, not an error).
            self.metric = FrechetInceptionDistance(
                feature=extractor, reset_real_features=False, normalize=True, sync_on_compute=False
            )
            self.metric = self.metric.to(self.device)
            self._update(real, real=True)
        except (ModuleNotFoundError, OSError, RuntimeError) as exc:
            if features != "inception":
                raise
            raise CompanionError(
                f"Inception FID features could not be loaded ({str(exc).splitlines()[0][:120]}): "
                "pip install torch-fidelity and allow it to download its weights once, or use --fid-features classifier"
            ) from None

    @torch.no_grad()
    def _update(self, images: Tensor, real: bool) -> None:
        for x in images.split(self.batch):
            x = x.to(self.device)
            x = to_unit(x)
            if self.features == "inception" and x.shape[1] == 1:
                x = x.expand(-1, 3, -1, -1)
            self.metric.update(x, real=real)

    @torch.no_grad()
    def score_images(self, fake: Tensor) -> dict[str, Any]:
        """FID (and mode coverage, with a classifier) of a batch of images (N, C, H, W) in [0, 1]."""
        self.metric.reset()
        self._update(fake, real=False)
        out: dict[str, Any] = {"fid": float(self.metric.compute())}
        if self.classifier is not None:
            preds = torch.cat([self.classifier(x.to(self.device).float()).argmax(1) for x in fake.split(self.batch)])
            out.update(mode_coverage(preds))
        return out

    @torch.no_grad()
    def score_generator(self, generator: nn.Module, n: int, latent_dim: int, seed: int = 1234) -> dict[str, Any]:
        """Generate ``n`` images from seeded latents (G in eval mode) and score them."""
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(n, latent_dim, generator=g).to(self.device)
        fake = torch.cat([generator(chunk).float() for chunk in z.split(self.batch)])
        return self.score_images(fake)


def psnr(x: Tensor, y: Tensor) -> Tensor:
    """Per-image PSNR in dB for images in [0, 1]: 10 log10(1 / MSE). Shapes (N, C, H, W) -> (N,)."""
    mse = (x.float() - y.float()).square().flatten(1).mean(1).clamp_min(1e-12)
    return 10 * torch.log10(1 / mse)


def ssim(x: Tensor, y: Tensor) -> Tensor:
    """Per-image SSIM (torchmetrics, Gaussian window 11, sigma 1.5) for images in [0, 1]. (N,) output."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    return structural_similarity_index_measure(x.float(), y.float(), data_range=1.0, reduction="none")


def fid_floor(scorer: FIDScorer, real: Tensor, n: int, repeats: int = 3) -> list[float]:
    """FID of real images against the scorer's reference: the best a generator could score.

    ``repeats`` disjoint sets of ``n`` images from ``real`` (e.g. training digits, disjoint from
    the test-set reference) are scored exactly as generated samples are, so the floor carries the
    same finite-sample bias as every generator's FID.

    Raises:
        DataError: fewer than ``n * repeats`` images.
    """
    if len(real) < n * repeats:
        raise DataError(f"the FID floor needs {n * repeats} real images, got {len(real)}")
    out = []
    for i in range(repeats):
        x = real[i * n : (i + 1) * n]
        x = to_unit(x)
        out.append(scorer.score_images(x)["fid"])
    return out

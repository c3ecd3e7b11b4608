"""Training speed: the project's trainer against a loop written the report's way.

Both train the report's G/D on MNIST with the non-saturating loss, batch 128,
Adam 2e-4, for one epoch (or ``--steps``), in the same process, same seed:

* reference: ``torchvision.datasets.MNIST`` + ``ToTensor`` + ``DataLoader``
  (PIL decode per sample), D ending in ``Sigmoid`` and ``nn.BCELoss``, D's weight
  gradients computed in the G step too, default memory format;
* companion routes: `companion.train.GANTrainer` (uint8 tensor in memory, batches by
  indexing, logits + softplus, channels-last, D frozen in the G step, fused Adam on CUDA) in
  float32, and in bf16 autocast where the hardware runs it natively (``--precision auto``),
  and with ``--compile`` also under torch.compile.

Prints images/s of every route, its ratio to the reference, and the FID of every generator
after the same steps (classifier features, 5,000 samples) as a sanity check that speed costs
no quality. The quality comparison across seeds is ``benchmarks/precision.py``.
With ``--full`` it also times the chapter's 3 losses x 20 epochs (meant for a GPU).

    python benchmarks/train_speed.py --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from torch import nn


def reference_epoch(data_dir: str, device: torch.device, steps: int | None, seed: int) -> tuple[float, nn.Module]:
    """The report's loop; returns (images/s, generator)."""
    import torchvision
    from torch.utils.data import DataLoader
    from torchvision.transforms import ToTensor

    from companion.models import dcgan_init
    from companion.models.report28 import ReportDiscriminator, ReportGenerator

    torch.manual_seed(seed)
    ds = torchvision.datasets.MNIST(data_dir, train=True, download=False, transform=ToTensor())
    loader = DataLoader(ds, batch_size=128, shuffle=True, drop_last=True)
    G = ReportGenerator().apply(dcgan_init).to(device)
    D = nn.Sequential(ReportDiscriminator(), nn.Sigmoid()).apply(dcgan_init).to(device)
    bce = nn.BCELoss()
    og = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
    od = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
    n, t0 = 0, time.perf_counter()
    for i, (x, _) in enumerate(loader):
        if steps is not None and i >= steps:
            break
        x = x.to(device)
        ones, zeros = torch.ones(x.shape[0], device=device), torch.zeros(x.shape[0], device=device)
        fake = G(torch.randn(x.shape[0], 100, device=device))
        d_loss = bce(D(x), ones) + bce(D(fake.detach()), zeros)
        od.zero_grad()
        d_loss.backward()
        od.step()
        g_loss = bce(D(fake), ones)
        og.zero_grad()
        g_loss.backward()
        og.step()
        n += x.shape[0]
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - t0), G.eval()


def companion_run(
    data_dir: str,
    device: torch.device,
    epochs: int,
    steps: int | None,
    seed: int,
    loss: str = "nonsaturating",
    compile_: str = "off",
    precision: str = "fp32",
) -> tuple[float, float, nn.Module]:
    """The project's trainer; returns (images/s, seconds, generator)."""
    from companion.config import make_config
    from companion.data import load_dataset
    from companion.losses import get_loss
    from companion.models import ArchSpec, build_gan
    from companion.train import GANTrainer

    cfg = make_config(
        None,
        dataset="mnist",
        epochs=epochs,
        fid_samples=0,
        seed=seed,
        device=str(device.type),
        compile=compile_,
        precision=precision,
    )
    data = load_dataset("mnist", "train", data_dir)
    if steps is not None:
        data = data.subset(steps * cfg.batch_size)
    torch.manual_seed(seed)
    G, D = build_gan(ArchSpec("report28", 1, 100))
    fmt = torch.channels_last
    G, D = G.to(device, memory_format=fmt), D.to(device, memory_format=fmt)
    with tempfile.TemporaryDirectory() as tmp:
        tr = GANTrainer(
            G, D, get_loss(loss), data.to(device), cfg, Path(tmp), device=device, precision=precision, progress=False
        )
        t0 = time.perf_counter()
        tr.fit()
        seconds = time.perf_counter() - t0
        recs = [json.loads(x) for x in (Path(tmp) / "metrics.jsonl").read_text().splitlines()]
    ips = [r["images_per_s"] for r in recs if r["type"] == "epoch"]
    return sum(ips) / len(ips), seconds, G.eval()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", default="../shared/data")
    p.add_argument("--device", default="auto")
    p.add_argument("--steps", type=int, default=None, help="steps per run (default: one full epoch, 468 steps)")
    p.add_argument("--full", action="store_true", help="also time 3 losses x 20 epochs (meant for a GPU)")
    p.add_argument("--compile", choices=("off", "default", "reduce-overhead"), default="off",
                   help="add a torch.compile route in this mode")  # fmt: skip
    p.add_argument("--json", type=Path, help="write the numbers here too")
    args = p.parse_args()
    from companion.device import resolve_device, resolve_precision

    device = resolve_device(args.device)
    native = resolve_precision("auto", device)
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, auto precision {native}")
    # Routes, timed one after the other in this process; the reference first.
    routes = {"companion fp32": ("fp32", "off")}
    if native == "bf16":
        routes["companion bf16 (auto)"] = ("bf16", "off")
    if args.compile != "off":
        routes[f"companion {native} + compile {args.compile}"] = (native, args.compile)
    ref_ips, ref_G = reference_epoch(args.data_dir, device, args.steps, 0)
    print(f"{'reference (DataLoader + ToTensor + Sigmoid/BCELoss)':<52} {ref_ips:8.0f} images/s")
    out: dict = {"device": str(device), "threads": torch.get_num_threads(), "reference_images_per_s": ref_ips}
    generators = {"reference": ref_G}
    for name, (precision, comp) in routes.items():
        ips, _, G = companion_run(args.data_dir, device, 1, args.steps, 0, compile_=comp, precision=precision)
        generators[name] = G
        out[name] = {"images_per_s": ips, "ratio": ips / ref_ips}
        print(f"{name:<52} {ips:8.0f} images/s   {ips / ref_ips:.2f}x the reference")
    try:
        from companion.data import load_dataset
        from companion.metrics import FIDScorer, get_classifier

        clf = get_classifier("mnist", args.data_dir, device)
        scorer = FIDScorer(clf, load_dataset("mnist", "test", args.data_dir).images, device)
        print("FID after the same steps (classifier features, 5,000 samples; one seed: a sanity check, not a ranking):")
        for name, G in generators.items():
            fid = scorer.score_generator(G, 5000, 100)["fid"]
            (out[name] if name in out else out.setdefault("reference", {}))["fid"] = fid
            print(f"  {name:<50} {fid:8.1f}")
    except Exception as exc:  # the speed numbers stand without it
        print(f"(FID comparison skipped: {exc})")
    if args.full:
        total = 0.0
        for loss in ("minimax", "nonsaturating", "lsgan"):
            _, sec, _ = companion_run(args.data_dir, device, 20, None, 0, loss, compile_=args.compile, precision=native)
            print(f"{loss}: 20 epochs in {sec:.1f} s")
            total += sec
        print(f"3 losses x 20 epochs: {total:.1f} s")
        out["full_3x20_seconds"] = total
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""The interactive figures' networks: chapter 1's generator and chapter 2's encoder, exported for the browser.

Runs ``companion export-web`` (`companion.webexport.export_web`) into ``docs/assets/web/net/`` and
measures what the export costs: the exported generator against the checkpoint's on 1,000 latents
(grey levels), the exported encoder against the original on 1,000 test digits (its latents, and the
PSNR of the round trip G(E(x))), and the bytes a reader downloads. Draws the figures' still images
(shown when JavaScript is off). Writes ``docs/assets/web/``.

    python -m companion.chapters.web     # seconds: the book's shipped generator and encoder (or yours, from runs/)
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from companion.artifacts import image_grid, new_figure, save_figure, write_json
from companion.chapters.common import Chapter, add_model_options, markdown_table, write_text
from companion.errors import CompanionError

__all__ = ["CHAPTER", "main"]


def _arguments(p: argparse.ArgumentParser) -> None:
    add_model_options(p)
    p.add_argument(
        "--encoder",
        type=Path,
        default=None,
        help="default: chapter 2's encoder for that generator (its run in runs/, else book:encoder when it matches)",
    )
    p.add_argument("--rank", type=int, default=128, help="rank of the encoder's large linear layer (0: whole)")


def compute(args: argparse.Namespace) -> dict[str, Any]:
    from companion.chapters.inversion import chapter_generator
    from companion.data import load_dataset, make_synthetic
    from companion.encoder import load_encoder
    from companion.experiment import load_generator
    from companion.pixels import to_uint8, to_unit
    from companion.webexport import export_web, rebuild_encoder, rebuild_generator

    args.generator = chapter_generator(args)
    if not str(args.generator).startswith("book:") and not Path(args.generator).is_file():
        raise CompanionError(f"no generator at {args.generator}: run chapter 1 first or pass --generator")
    G, _, _ = load_generator(args.generator)
    encoder = args.encoder or _encoder_for(G)
    E = load_encoder(encoder, G)
    test = make_synthetic(1000, seed=7).images if args.dry_run else load_dataset("mnist", "test", args.data_dir).images
    train = make_synthetic(1000).images if args.dry_run else load_dataset("mnist", "train", args.data_dir).images
    folder = args.assets / "net"  # exactly what `companion export-web --out docs/assets/web/net` writes
    manifest = export_web(args.generator, folder, encoder, rank=args.rank, data=train[:5000])
    G_web, E_web = rebuild_generator(folder), rebuild_encoder(folder)
    z = torch.randn(1000, 100, generator=torch.Generator().manual_seed(3))
    x = to_unit(test[:1000])
    with torch.no_grad():
        dg = (to_uint8(G_web(z)).int() - to_uint8(G(z)).int()).abs()
        z_web, z_ref = E_web(x), E(x)
        rt_web, rt_ref = G(z_web), G(z_ref)
    mse = lambda a, b: (a - b).square().flatten(1).mean(1)  # noqa: E731
    return {
        "manifest": manifest,
        "gen_max": int(dg.max()), "gen_share_exact": float((dg == 0).float().mean()),
        "enc_max": float((z_web - z_ref).abs().max()), "enc_mean": float((z_web - z_ref).abs().mean()),
        "psnr_web": float((10 * torch.log10(1 / mse(rt_web, x))).mean()),
        "psnr_ref": float((10 * torch.log10(1 / mse(rt_ref, x))).mean()),
        "gallery": to_uint8(G_web(torch.tensor(manifest["gallery"]))),
        "digits": test[:8], "recon": to_uint8(rt_web[:8]),
        "interp": _interpolations(G_web, torch.tensor(manifest["gallery"])),
        "midpoints": _midpoints(G),
        "bytes": sum((folder / f).stat().st_size for f in ("weights.bin", "manifest.json")),
    }  # fmt: skip


def _encoder_for(G) -> Path | str:
    """Chapter 2's encoder for ``G``: its run in runs/, else book:encoder when it was trained for ``G``."""
    from companion.bookmodels import shipped
    from companion.checkpoint import ENCODER_FORMAT, load_checkpoint
    from companion.encoder import generator_fingerprint

    fp = generator_fingerprint(G)
    run = Path("runs") / "inversion" / "main" / f"encoder_{fp}" / "ckpt.pt"
    if run.is_file():
        return run
    if shipped("encoder") and load_checkpoint("book:encoder", ENCODER_FORMAT)["generator_fingerprint"] == fp:
        return "book:encoder"
    raise CompanionError(f"no encoder at {run}: run chapter 2 first or pass --encoder")


def _interpolations(G, gallery: torch.Tensor) -> dict[str, torch.Tensor]:
    from companion.pixels import to_uint8

    a, b = gallery[0], gallery[1]
    t = torch.linspace(0, 1, 8)
    lin = (1 - t)[:, None] * a + t[:, None] * b
    omega = torch.arccos((a / a.norm()) @ (b / b.norm()))
    sph = (torch.sin((1 - t) * omega)[:, None] * a + torch.sin(t * omega)[:, None] * b) / torch.sin(omega)
    with torch.no_grad():
        return {"linear": to_uint8(G(lin)), "spherical": to_uint8(G(sph))}


def _midpoints(G, pairs: int = 500) -> dict[str, float]:
    """What the explorer's two paths do halfway, over random pairs of latents: norm and ink (mean grey in [0, 1]).

    The straight line's midpoint (A + B) / 2 has norm about sqrt(d / 2), the great circle's sqrt(d);
    whether that shorter latent shows in the image is a property of the generator, measured here.
    """
    g = torch.Generator().manual_seed(5)
    a, b = torch.randn(pairs, 100, generator=g), torch.randn(pairs, 100, generator=g)
    lin = (a + b) / 2
    cos = ((a / a.norm(dim=1, keepdim=True)) * (b / b.norm(dim=1, keepdim=True))).sum(1, keepdim=True)
    omega = torch.arccos(cos.clamp(-1, 1))
    sph = torch.sin(omega / 2) * (a + b) / torch.sin(omega)  # slerp at t = 1/2
    with torch.no_grad():
        ink = lambda z: G(z).flatten(1).mean(1)  # noqa: E731
        i_lin, i_sph, i_ends = ink(lin), ink(sph), (ink(a) + ink(b)) / 2
    return {
        "pairs": pairs,
        "norm_linear": float(lin.norm(dim=1).mean()),
        "norm_spherical": float(sph.norm(dim=1).mean()),
        "ink_linear": float(i_lin.mean()),
        "ink_spherical": float(i_sph.mean()),
        "ink_ends": float(i_ends.mean()),
        "share_linear_fainter": float((i_lin < i_sph).float().mean()),
    }


def draw(res: dict[str, Any], args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    assets: Path = args.assets
    fig, axes = new_figure(1, 3, 7.0, 1.3)
    rows = (("gallery", res["gallery"]), ("linear A to B", res["interp"]["linear"]),
            ("spherical A to B", res["interp"]["spherical"]))  # fmt: skip
    for ax, (label, imgs) in zip((axes[0][0], axes[1][0], axes[2][0]), rows):
        ax.imshow(image_grid(imgs, nrow=12, padding=1), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.set_ylabel(label, fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    save_figure(fig, assets / "explorer.png")
    fig, axes = new_figure(1, 2, 4.5, 1.3)
    for ax, (label, imgs) in zip((axes[0][0], axes[1][0]), (("digit x", res["digits"]), ("G(E(x))", res["recon"]))):
        ax.imshow(image_grid(imgs, nrow=8, padding=1), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.set_ylabel(label, fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    save_figure(fig, assets / "draw.png")
    m = res["manifest"]
    rows = [
        {"what": "download (manifest + weights), loaded at the first click", "value": f"{res['bytes'] / 1e6:.2f} MB"},
        {"what": "generator: largest difference from the checkpoint, 1,000 latents",
         "value": f"{res['gen_max']} grey level(s)"},
        {"what": "generator: pixels exactly equal", "value": f"{100 * res['gen_share_exact']:.2f} %"},
        {"what": f"encoder (large layer int8, rank {m['encoder']['rank'] or 'full'}): largest latent difference, "
                 "1,000 test digits", "value": f"{res['enc_max']:.3f} (mean {res['enc_mean']:.4f})"},
        {"what": "round trip G(E(x)) PSNR, exported encoder / original",
         "value": f"{res['psnr_web']:.2f} / {res['psnr_ref']:.2f} dB"},
    ]  # fmt: skip
    mid = res["midpoints"]
    rows += [
        {"what": f"explorer, halfway A to B ({mid['pairs']} random pairs): latent norm, straight line / great circle",
         "value": f"{mid['norm_linear']:.2f} / {mid['norm_spherical']:.2f}"},
        {"what": "explorer, halfway A to B: ink (mean grey, 0 to 1), straight line / great circle / the ends",
         "value": f"{mid['ink_linear']:.3f} / {mid['ink_spherical']:.3f} / {mid['ink_ends']:.3f}"},
    ]  # fmt: skip
    write_text(assets / "export.md", markdown_table(rows, [("what", "export"), ("value", "measured")]))
    numbers = {k: v for k, v in res.items() if isinstance(v, (int, float))} | {"midpoints": res["midpoints"]}
    write_json(numbers, assets / "export.json")
    return {"rank": args.rank}, ""


CHAPTER = Chapter(
    name="web",
    description="the interactive figures' networks, exported for the browser and checked against PyTorch",
    compute=compute,
    draw=draw,
    arguments=_arguments,
)


def main(argv: list[str] | None = None) -> int:
    return CHAPTER.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())

"""The comparison chapter's tables, figures and verdict (`companion.chapters.compare`), drawn from its results only."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from companion.artifacts import image_grid, new_figure, save_figure, write_json
from companion.chapters.common import duration, markdown_table, write_text

__all__ = ["VERDICT", "draw_all", "verdict"]

GAN, GLOW = "GAN (chapter 1)", "Glow (Part II)"


def _pm(mean: float, spread: float | None, digits: int = 1) -> str:
    return f"{mean:.{digits}f}" if spread is None else f"{mean:.{digits}f} ± {spread:.{digits}f}"


def _paired(rows: list[dict], task: str, a: str, b: str) -> dict[str, float] | None:
    from companion.comparison import paired

    ra = next((r for r in rows if r["task"] == task and r["method"] == a), None)
    rb = next((r for r in rows if r["task"] == task and r["method"] == b), None)
    return None if ra is None or rb is None else paired(ra["values"], rb["values"])


def sample_table(s: dict[str, Any]) -> str:
    rows = []
    for r in s["rows"]:
        fids = ", ".join(f"{v:.1f}" for v in r["fid_values"])
        rows.append({"model": r["model"], "law": r["law"], "fid": _pm(r["fid"], r["fid_sd"]),
                     "per": fids if r["seeds"] > 1 else "one training seed", "classes": r["classes"],
                     "blank": f"{r['blank']} of {r['samples'] * r['seeds']:,}"})  # fmt: skip
    b = s["baselines"]
    rows.append({"model": "real training digits (the floor)", "law": "-", "fid": f"{b['floor']['fid']:.1f}",
                 "per": "-", "classes": b["floor"]["classes"], "blank": "-"})  # fmt: skip
    hist = b["histogram"]
    rows.append({"model": "per-pixel histogram (trivial)", "law": "each pixel alone", "fid": f"{hist['fid']:.0f}",
                 "per": "-", "classes": hist["classes"], "blank": "-"})  # fmt: skip
    cols = [("model", "model"), ("law", "latent law"), ("fid", "FID (mean ± sd over training seeds)"),
            ("per", "FID per training seed"), ("classes", "classes covered"), ("blank", "blank samples")]  # fmt: skip
    return markdown_table(rows, cols)


def bpd_table(s: dict[str, Any]) -> str:
    rows = []
    if "flow" in s["bpd"]:
        rows.append({"model": "Glow (Part II)", "bpd": f"{float(s['bpd']['flow'].mean()):.3f}",
                     "how": "exact, 1 dequantisation draw"})  # fmt: skip
    rows += [
        {"model": "per-pixel histogram (trivial)", "bpd": f"{s['bpd']['histogram']:.3f}", "how": "counting"},
        {"model": "GAN, GLO", "bpd": "none", "how": "no density: their samples lie on a 100-dimensional surface"},
    ]
    return markdown_table(rows, [("model", "model"), ("bpd", "test bits/dim"), ("how", "how")])


def inversion_table(rows: list[dict]) -> str:
    out = [{"model": r["model"], "psnr": _pm(r["psnr"], 1.96 * r["se"], 2),
            "s": "-" if r["seconds_per_image"] is None else f"{r['seconds_per_image']:.3f}",
            "how": r["how"]} for r in rows]  # fmt: skip
    return markdown_table(out, [("model", "model"), ("psnr", "PSNR dB (mean ± 95%)"), ("how", "how"),
                                ("s", "s / image")])  # fmt: skip


#: The models' names as the restoration tables' headers (nine columns must fit a 1,400 px screen's article).
SHORT = {"GAN (chapter 1)": "GAN, ch. 1", "GAN (chapter 4, hinge + EMA)": "GAN, ch. 4", "GLO (chapter 5)": "GLO",
         "Glow (Part II)": "Glow"}  # fmt: skip


def restoration_table(res: dict[str, Any]) -> str:
    rows, tasks = res["rows"], list(dict.fromkeys(r["task"] for r in res["rows"]))
    methods = [m for m in dict.fromkeys(r["method"] for r in rows if not r["classical"]) if m != "degraded input"]
    out = []
    for t in tasks:
        cell = {r["method"]: r for r in rows if r["task"] == t}
        best = max((r for r in cell.values() if r["classical"]), key=lambda r: r["psnr"])
        row = {"task": t, "input": f"{cell['degraded input']['psnr']:.2f}",
               "classical": f"{best['psnr']:.2f} ({best['method'].split(' (')[0]})"}  # fmt: skip
        for m in methods:
            row[m] = f"{cell[m]['psnr']:.2f}" if m in cell else ""
        d = _paired(rows, t, GLOW, GAN)
        row["diff"] = "" if d is None else f"{d['mean']:+.2f} [{d['lo']:+.2f}, {d['hi']:+.2f}]"
        g = res["gammas"].get(t)
        row["gamma"] = "" if g is None else f"{g:g}"
        out.append(row)
    cols = [("task", "task"), ("input", "degraded input"), ("classical", "best classical")]
    cols += [(m, SHORT.get(m, m)) for m in methods]
    cols += [("diff", "Glow - GAN, dB [95%]"), ("gamma", "Glow's γ (validation)")]
    return markdown_table(out, cols)


def cost_table(results: dict[str, Any], manifests: dict[str, dict]) -> str:
    rest = results["restoration"]["rows"]
    out = []
    for label in results["models"]:
        man = manifests.get(label) or {}
        secs = [r["seconds_per_image"] for r in rest if r["method"] == label and r.get("seconds_per_image")]
        train = (man.get("provenance") or {}).get("train_seconds")
        out.append({"model": label, "params": f"{man.get('parameters', 0) / 1e6:.2f} M" if man else "",
                    "train": duration(train) if train else "",
                    "restore": f"{sum(secs) / len(secs):.2f}" if secs else ""})  # fmt: skip
    return markdown_table(out, [("model", "model"), ("params", "parameters"), ("train", "training (CPU)"),
                                ("restore", "s / restoration (mean over tasks)")])  # fmt: skip


#: The verdict's three sentences in each language ({t}: the task, as the tables name it; numbers left to right).
VERDICT = {
    "en": {
        "glow": "- **{t}**: the Glow prior is better by {m} dB (95% interval {lo} to {hi}, paired over {n} images).",
        "gan": "- **{t}**: the GAN prior is better by {m} dB (95% interval {lo} to {hi}, paired over {n} images).",
        "tie": "- **{t}**: no difference the {n} images can tell (Glow - GAN {m} dB, 95% interval {lo} to {hi}).",
    },
    "he": {
        "glow": "- **{t}**: הפריור של ה-Glow טוב יותר ב-{m} dB (רווח סמך של 95%: {lo} עד {hi}, בזוגות על {n} תמונות).",
        "gan": "- **{t}**: הפריור של ה-GAN טוב יותר ב-{m} dB (רווח סמך של 95%: {lo} עד {hi}, בזוגות על {n} תמונות).",
        "tie": "- **{t}**: {n} התמונות לא מבחינות בהבדל (Glow פחות GAN: {m} dB, רווח סמך של 95%: {lo} עד {hi}).",
    },
}


def verdict(results: dict[str, Any], lang: str = "en") -> str:
    """The page's answer to "which for what", every number read from this run's results, in ``lang`` (en | he)."""
    rows = results["restoration"]["rows"] + results["ood"]["rows"]
    say = VERDICT[lang]

    def ltr(text: str) -> str:  # a task name or a number inside Hebrew text keeps its own direction
        return text if lang == "en" else f'<bdi dir="ltr">{text}</bdi>'

    lines = []
    for t in list(dict.fromkeys(r["task"] for r in rows)):
        d = _paired(rows, t, GLOW, GAN)
        if d is None:
            continue
        if d["lo"] > 0:
            key, m, lo, hi = "glow", f"{d['mean']:.2f}", f"{d['lo']:.2f}", f"{d['hi']:.2f}"
        elif d["hi"] < 0:
            key, m, lo, hi = "gan", f"{-d['mean']:.2f}", f"{-d['hi']:.2f}", f"{-d['lo']:.2f}"
        else:
            key, m, lo, hi = "tie", f"{d['mean']:+.2f}", f"{d['lo']:+.2f}", f"{d['hi']:+.2f}"
        lines.append(say[key].format(t=ltr(t), m=ltr(m), lo=ltr(lo), hi=ltr(hi), n=d["n"]))
    return "\n".join(lines) + "\n"


def _grid_figure(shown: dict[str, dict[str, torch.Tensor]], path, k: int = 4) -> None:
    """Rows: tasks; columns: clean, degraded, each model, the best classical; k images per cell (6 x 6 for k = 36)."""
    cells = list(shown)
    columns = list(next(iter(shown.values())))
    side = min(k, 6)
    fig, axes = new_figure(len(columns), len(cells), 1.5, 1.5 * -(-k // side) / side + 0.35)
    for i, cell in enumerate(cells):
        for j, col in enumerate(columns):
            ax = axes[i][j]
            ax.imshow(image_grid(shown[cell][col][:k].float().clamp(0, 1), nrow=min(k, 6), padding=1), cmap="gray",
                      vmin=0, vmax=255, interpolation="nearest")  # fmt: skip
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(col.replace(" (", "\n("), fontsize=8)
            if j == 0:
                ax.set_ylabel(cell, fontsize=8, rotation=0, ha="right", va="center")
    save_figure(fig, path, dpi=100)


def draw_all(results: dict[str, Any], args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from companion.bookmodels import BOOK, is_book_ref, manifest

    assets = args.assets
    s = results["samples"]
    write_text(assets / "samples.md", sample_table(s))
    write_text(assets / "bpd.md", bpd_table(s))
    write_text(assets / "inversion.md", inversion_table(results["inversion"]))
    write_text(assets / "restoration.md", restoration_table(results["restoration"]))
    write_text(assets / "ood.md", restoration_table(results["ood"]))
    write_text(assets / "verdict.md", verdict(results))
    write_text(assets / "verdict.he.md", verdict(results, "he"))
    manifests = {label: manifest(str(ref)[5:]) for label, ref in results["models"].items()
                 if is_book_ref(ref) and str(ref)[5:] in BOOK}  # fmt: skip
    for label, ref in results["models"].items():  # a reader's own run: its summary says the same two things
        summary = Path(str(ref)).parent / "summary.json"
        if label not in manifests and not is_book_ref(ref) and summary.is_file():
            run = json.loads(summary.read_text())
            manifests[label] = {
                "parameters": run.get("parameters", 0),
                "provenance": {"train_seconds": run.get("train_seconds")},
            }
    write_text(assets / "cost.md", cost_table(results, manifests))
    x = results["x"]
    shown = {cell: {"clean": x, **v} for cell, v in results["restoration"]["shown"].items()}
    _grid_figure(shown, assets / "restoration.png")
    ood = {results["ood"]["rows"][0]["task"]: {"clean": results["ood"]["x"], **results["ood"]["shown"]}}
    _grid_figure(ood, assets / "ood.png")
    samples = {r["model"] + ", " + r["law"]: {"samples": r["shown"].float() / 255} for r in s["rows"]}
    _grid_figure({"": {k: v["samples"] for k, v in samples.items()}}, assets / "samples.png", k=36)

    def strip(rows: list[dict]) -> list[dict]:  # per-image values stay (rounded): the paired numbers are re-checkable
        out = []
        for r in rows:
            kept = {k: v for k, v in r.items() if k not in ("values", "images", "shown")}
            if "values" in r:
                kept["values"] = [round(float(v), 4) for v in r["values"]]
            out.append(kept)
        return out

    write_json({"samples": strip(s["rows"]), "baselines": s["baselines"], "inversion": strip(results["inversion"]),
                "restoration": strip(results["restoration"]["rows"]), "gammas": results["restoration"]["gammas"],
                "ood": strip(results["ood"]["rows"]), "models": results["models"], "seeds": results["seeds"],
                "preset": results["preset"]}, assets / "results.json")  # fmt: skip
    p = results["p"]
    settings = {"preset": results["preset"], "test_digits": p["n"], "validation_digits": p["n_val"],
                "samples": p["n_gen"], "seeds": results["seeds"], "flow_steps": p["flow_steps"]}  # fmt: skip
    note = f"Models: {', '.join(f'{k} = {v}' for k, v in results['models'].items())}."
    return settings, note

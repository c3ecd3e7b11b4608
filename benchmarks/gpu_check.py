"""Everything a GPU must show, in one call of under 10 minutes.

1. the CUDA tests (``tests/test_cuda.py``: training steps, bf16, fused Adam, compile modes, sampling);
2. the same steps on the CPU and on the device from the same seed: the loss curves must agree
   within ``--tolerance`` (mean relative difference of the 25-step averages; kernels differ, so
   bit-equality is not expected);
3. every speed switch (precision fp32/bf16 x compile off/default/reduce-overhead) timed on one
   epoch of the non-saturating loss (images/s);
4. the report's full experiment, 3 losses x 20 epochs on MNIST with the fastest switch, timed,
   with the final FID of each loss (classifier features, 5,000 samples);
5. the other two models: the Glow (book preset, bf16 and fp32 coupling nets) and GLO (book settings),
   steps/s and, after a fixed number of steps, the Glow's held-out bits/dim and GLO's reconstruction
   PSNR, so that one call measures all three models.

Writes ``report.json`` and ``report.md`` into ``--out``. On a machine without a GPU,
``--device cpu --quick`` runs the same code on tiny synthetic data in seconds (a test does), so
the script is known to work before a GPU is lent.

    python benchmarks/gpu_check.py --out gpu_report                 # on the GPU machine
    python benchmarks/gpu_check.py --device cpu --quick --out /tmp/x   # the CPU part
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def _config(quick: bool, device: str, **kw):
    from companion.config import make_config

    base = dict(dataset="synthetic", batch_size=64, fid_samples=0, n_fixed=8) if quick else dict(dataset="mnist")
    return make_config(None, device=device, **{**base, **kw})


def _train(cfg, data_dir, steps_only: int | None = None):
    """Train one run into a temporary folder; returns (step records, epoch records, summary)."""
    from companion.experiment import run_training
    from companion.runlog import RunLog

    if steps_only is not None:
        cfg = type(cfg)(**{**cfg.__dict__, "train_subset": steps_only * cfg.batch_size, "epochs": 1})
    with tempfile.TemporaryDirectory() as tmp:
        summary = run_training(cfg, Path(tmp) / "run", data_dir=data_dir, progress=False, render=False)
        log = RunLog(Path(tmp) / "run" / "metrics.jsonl")
        return log.read("step"), log.read("epoch"), summary


def consistency(device: str, quick: bool, data_dir, steps: int, tolerance: float) -> dict:
    """The same steps on the CPU and on ``device`` (fp32, same seed): do the loss curves agree?"""
    from companion.artifacts import smooth

    curves = {}
    for dev in ("cpu", device):
        cfg = _config(quick, dev, precision="fp32", deterministic=True)
        curves[dev] = _train(cfg, data_dir, steps_only=steps)[0]
    out = {}
    for key in ("d_loss", "g_loss"):
        a = smooth([r[key] for r in curves["cpu"]])
        b = smooth([r[key] for r in curves[device]])
        out[key] = sum(abs(x - y) / max(abs(x), 1e-8) for x, y in zip(a, b)) / len(a)
    out["steps"] = len(curves["cpu"])
    out["tolerance"] = tolerance
    out["ok"] = all(out[k] <= tolerance for k in ("d_loss", "g_loss"))
    return out


def switches(device: str, quick: bool, data_dir) -> list[dict]:
    """images/s of one epoch of the non-saturating loss under every speed switch."""
    from companion.device import resolve_device, resolve_precision

    dev = resolve_device(device)
    rows = []
    precisions = ["fp32"] + (["bf16"] if resolve_precision("auto", dev) == "bf16" or dev.type == "cuda" else [])
    compiles = ["off", "default"] + (["reduce-overhead"] if dev.type == "cuda" else [])
    for precision in precisions:
        for comp in compiles:
            cfg = _config(quick, device, precision=precision, compile=comp, epochs=1)
            t0 = time.perf_counter()
            try:
                _, epochs, _ = _train(cfg, data_dir)
                rows.append(
                    {
                        "precision": precision,
                        "compile": comp,
                        "images_per_s": epochs[-1]["images_per_s"],
                        "seconds": time.perf_counter() - t0,
                    }
                )
            except Exception as exc:  # a switch that cannot run here is reported, not fatal
                rows.append({"precision": precision, "compile": comp, "error": str(exc).splitlines()[0][:200]})
            print(rows[-1], flush=True)
    return rows


def full_experiment(device: str, quick: bool, data_dir, best: dict) -> dict:
    """The report's experiment (3 losses x 20 epochs; quick: x 1 epoch on synthetic data), timed."""
    out = {"precision": best["precision"], "compile": best["compile"], "losses": {}}
    total = 0.0
    for loss in ("minimax", "nonsaturating", "lsgan"):
        kw = dict(epochs=1, fid_samples=256) if quick else dict(epochs=20, fid_samples=5000)
        cfg = _config(quick, device, loss=loss, precision=best["precision"], compile=best["compile"], **kw)
        t0 = time.perf_counter()
        _, epochs, _ = _train(cfg, data_dir)
        seconds = time.perf_counter() - t0
        total += seconds
        out["losses"][loss] = {"seconds": seconds, "final_fid": epochs[-1].get("fid"), "epochs": len(epochs)}
        print(loss, out["losses"][loss], flush=True)
    out["total_seconds"] = total
    return out


def other_models(device: str, quick: bool, data_dir, steps: int) -> dict:
    """The Glow and GLO trained for ``steps`` steps on ``device``: speed, and the quality after those steps."""
    from companion.density import make_flow_config
    from companion.flowtrain import run_flow_training
    from companion.glo import make_glo_config, run_glo_training
    from companion.runlog import RunLog

    out: dict = {}
    data = "synthetic" if quick else "mnist"
    for precision in ("bf16", "fp32"):
        cfg = make_flow_config(None if quick else "book", dataset=data, device=device, precision=precision, epochs=1,
                               train_subset=steps * 64, eval_images=256 if quick else 2000,
                               **({"depth": 2, "hidden": 8} if quick else {}))  # fmt: skip
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            summary = run_flow_training(cfg, Path(tmp) / "run", data_dir=data_dir, progress=False)
            rec = RunLog(Path(tmp) / "run" / "metrics.jsonl").read("epoch")[-1]
        out[f"glow_{precision}"] = {
            "steps_per_s": steps / rec["seconds"], "held_out_bpd": rec.get("test_bpd"),
            "seconds": time.perf_counter() - t0, "precision": summary.get("precision"),
        }  # fmt: skip
        print("glow", precision, out[f"glow_{precision}"], flush=True)
    cfg = make_glo_config(None, dataset=data, device=device, epochs=1, train_subset=steps * 128)
    with tempfile.TemporaryDirectory() as tmp:
        summary = run_glo_training(cfg, Path(tmp) / "run", data_dir=data_dir, progress=False)
        rec = RunLog(Path(tmp) / "run" / "metrics.jsonl").read("epoch")[-1]
    out["glo"] = {"steps_per_s": steps / rec["seconds"], "recon_psnr": rec.get("recon_psnr")}
    print("glo", out["glo"], flush=True)
    return out


def _after(v: dict) -> str:
    if "held_out_bpd" in v:
        return f"held-out bits/dim {v['held_out_bpd']:.3f}"
    return f"reconstruction PSNR {v['recon_psnr']:.2f} dB"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--quick", action="store_true", help="tiny synthetic data: checks the script, times nothing")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--tolerance", type=float, default=0.05)
    p.add_argument("--skip-tests", action="store_true")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    report: dict = {
        "device": torch.cuda.get_device_name() if args.device == "cuda" and torch.cuda.is_available() else "cpu",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "quick": args.quick,
    }
    print(report, flush=True)
    if not args.skip_tests:
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "pytest", "-q", "tests/test_cuda.py"], cwd=ROOT, capture_output=True,
                           text=True)  # fmt: skip
        report["tests"] = {"returncode": r.returncode, "tail": r.stdout[-600:], "seconds": time.perf_counter() - t0}
        print(report["tests"]["tail"], flush=True)
    steps = 10 if args.quick else 100
    report["consistency"] = consistency(args.device, args.quick, args.data_dir, steps, args.tolerance)
    print("consistency", report["consistency"], flush=True)
    report["switches"] = switches(args.device, args.quick, args.data_dir)
    ok = [r for r in report["switches"] if "images_per_s" in r]
    best = max(ok, key=lambda r: r["images_per_s"])
    report["full"] = full_experiment(args.device, args.quick, args.data_dir, best)
    report["other_models"] = other_models(args.device, args.quick, args.data_dir, 8 if args.quick else 300)
    report["wall_seconds"] = time.perf_counter() - t_start
    (args.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        f"# GPU check on {report['device']} (torch {report['torch']}, CUDA {report['cuda']})",
        "",
        f"CPU vs device, {report['consistency']['steps']} steps, mean relative difference of the 25-step loss "
        f"averages: D {report['consistency']['d_loss']:.3g}, G {report['consistency']['g_loss']:.3g} "
        f"(tolerance {args.tolerance}).",
        "",
        "| precision | compile | images/s |",
        "|---|---|---|",
        *(
            f"| {r['precision']} | {r['compile']} | {r.get('images_per_s', r.get('error'))} |"
            for r in report["switches"]
        ),
        "",
        f"3 losses x {report['full']['losses']['minimax']['epochs']} epochs with {best['precision']}, compile "
        f"{best['compile']}: {report['full']['total_seconds']:.1f} s; final FID "
        + ", ".join(f"{k} {v['final_fid']}" for k, v in report["full"]["losses"].items()),
        "",
        "| model | steps/s | after the steps |",
        "|---|---|---|",
        *(
            f"| {k} | {v['steps_per_s']:.2f} | "
            + (
                f"held-out bits/dim {v['held_out_bpd']:.3f}"
                if "held_out_bpd" in v
                else f"recon PSNR {v['recon_psnr']:.2f} dB"
            )
            + " |"
            for k, v in report["other_models"].items()
        ),
        "",
        f"Whole check: {report['wall_seconds']:.0f} s.",
    ]
    (args.out / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if report["consistency"]["ok"] and report.get("tests", {}).get("returncode", 0) == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())

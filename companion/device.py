"""Where and in which precision to compute: ``--device`` and ``--precision``.

``--device auto`` picks CUDA, then Apple's MPS, then the CPU. ``--precision auto`` picks
bfloat16 autocast where the hardware computes it natively (a CUDA GPU with bf16 support, or
an x86 CPU with the AVX512-BF16 or AMX-BF16 instructions) and float32 elsewhere: emulated
bf16 is slower than float32, not faster. Under bf16 autocast the convolutions and matrix
products run in bf16 while weights, optimiser state, losses and BatchNorm statistics stay
float32 (the chapter "GAN losses" measures what this does to FID).
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import torch

from companion.errors import ConfigError

__all__ = [
    "COMPILE_MODES",
    "DEVICES",
    "PRECISIONS",
    "autocast",
    "compiled",
    "cpu_has_native_bf16",
    "cpu_summary",
    "resolve_device",
    "resolve_precision",
]

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16")
#: ``--compile``: off; ``default``: torch.compile; ``reduce-overhead``: torch.compile with CUDA graphs
#: (each step replayed as one recorded graph, no per-kernel launch cost), CUDA only.
COMPILE_MODES = ("off", "default", "reduce-overhead")


def resolve_device(name: str) -> torch.device:
    """The device for ``--device NAME``.

    Raises:
        ConfigError: an unknown name, or a device this machine does not have.
    """
    if name not in DEVICES:
        raise ConfigError(f"unknown device '{name}'; choose from {', '.join(DEVICES)}")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for but no CUDA GPU is available")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("--device mps was asked for but MPS is not available")
    return torch.device(name)


def cpu_has_native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True on x86 CPUs that advertise AVX512-BF16 or AMX-BF16 (read from /proc/cpuinfo on Linux)."""
    if not sys.platform.startswith("linux") or not cpuinfo.is_file():
        return False
    for line in cpuinfo.read_text(errors="replace").splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            return bool(flags & {"avx512_bf16", "amx_bf16"})
    return False


def cpu_summary(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU in words, with the vector instructions that decide its speed here, read from the machine.

    For example ``"Intel(R) Xeon(R) Processor, 2 threads, AVX2 + AVX-512 + AVX512-BF16 + AMX-BF16"``;
    a CPU with none of them (or a system without /proc/cpuinfo) says ``"no AVX2"`` or its platform.
    """
    import platform

    threads = f"{torch.get_num_threads()} threads"
    if not sys.platform.startswith("linux") or not cpuinfo.is_file():
        return f"{platform.processor() or platform.machine()}, {threads}"
    model, flags = platform.machine(), set()
    for line in cpuinfo.read_text(errors="replace").splitlines():
        if line.startswith("model name") and model == platform.machine():
            model = line.split(":", 1)[1].strip()
        elif line.startswith("flags") and not flags:
            flags = set(line.split(":", 1)[1].split())
    names = [("avx2", "AVX2"), ("avx512f", "AVX-512"), ("avx512_bf16", "AVX512-BF16"), ("amx_bf16", "AMX-BF16")]
    have = [label for flag, label in names if flag in flags]
    return f"{model}, {threads}, {' + '.join(have) if have else 'no AVX2'}"


def resolve_precision(name: str, device: torch.device) -> str:
    """``fp32`` or ``bf16`` for ``--precision NAME`` on ``device``.

    Raises:
        ConfigError: an unknown name.
    """
    if name not in PRECISIONS:
        raise ConfigError(f"unknown precision '{name}'; choose from {', '.join(PRECISIONS)}")
    if name != "auto":
        return name
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        return "bf16" if cpu_has_native_bf16() else "fp32"
    return "fp32"


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The autocast context for a resolved precision (a no-op for fp32)."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def compiled(module, mode: str, device: torch.device):
    """``module`` under torch.compile as ``--compile`` says; CUDA graphs only where they can run.

    ``reduce-overhead`` on a device without CUDA falls back to ``default`` (the run records what it used).
    """
    if mode == "off":
        return module
    if mode == "reduce-overhead" and device.type != "cuda":
        mode = "default"
    return torch.compile(module, mode=None if mode == "default" else mode)

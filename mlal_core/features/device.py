"""Device and numeric-precision resolution shared by the encoder and the models.

``resolve_device(None)`` picks CUDA when ``torch.cuda.is_available()`` and the CPU otherwise;
``"cpu"`` / ``"cuda"`` (or ``"cuda:1"``, a ``torch.device``) override it.

``resolve_precision`` turns ``"auto" | "fp32" | "bf16"`` (and ``"fp16"``) into the autocast dtype
to use, or ``None`` for plain float32. On the CPU ``"auto"`` uses bf16 autocast only when the CPU
has *native* bf16 arithmetic (``avx512_bf16`` or ``amx_bf16`` in ``/proc/cpuinfo``): emulated bf16
is about 3x slower than fp32 (measured on a 2-core machine without it: ~90 vs ~25 texts/s for
MiniLM at max_length 128). On CUDA ``"auto"`` uses bf16 where the GPU supports it, else fp16.
"""

from __future__ import annotations

import functools
import os

import torch

from ..errors import ConfigError, unknown_name_error
from ..precision import PRECISIONS


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``torch.device`` to run on: CUDA when available (``device=None``), else the CPU.

    Parameters
    ----------
    device : str, torch.device or None, default None
        None or ``"auto"`` for automatic; ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or a ``torch.device``.

    Returns
    -------
    torch.device
        A CPU or CUDA device.

    Raises
    ------
    ConfigError
        An unknown device, a device type other than CPU / CUDA, or CUDA asked for on a machine
        without it.
    """
    if device is None or (isinstance(device, str) and device.strip().lower() == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device.strip().lower() if isinstance(device, str) else device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(
            f"Unknown device {device!r}: use None (automatic), 'cpu' or 'cuda'."
        ) from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"Device {device!r} was asked for but CUDA is not available on this machine "
            "(torch.cuda.is_available() is False); use device=None or 'cpu'."
        )
    if dev.type not in ("cpu", "cuda"):
        raise ConfigError(f"Device {device!r} is not supported: use None, 'cpu' or 'cuda'.")
    return dev


@functools.lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """True when ``/proc/cpuinfo`` lists ``avx512_bf16`` or ``amx_bf16`` (native bf16 on the CPU)."""
    if os.environ.get("MLAL_ASSUME_NATIVE_BF16") is not None:  # for tests / unusual platforms
        return os.environ["MLAL_ASSUME_NATIVE_BF16"].strip() not in ("", "0", "false", "no")
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype for ``precision`` on ``device``; ``None`` means plain float32.

    See the module docstring for what ``"auto"`` picks.

    Parameters
    ----------
    precision : str
        ``"auto"``, ``"fp32"``, ``"bf16"`` or ``"fp16"`` (case-insensitive).
    device : torch.device
        The device that will run (from :func:`resolve_device`).

    Returns
    -------
    torch.dtype or None
        ``torch.bfloat16``, ``torch.float16``, or None for float32.

    Raises
    ------
    ConfigError
        An unknown precision, or ``"fp16"`` on a device that is not CUDA.
    """
    if not isinstance(precision, str) or precision.lower() not in PRECISIONS:
        raise unknown_name_error("precision", str(precision), PRECISIONS)
    precision = precision.lower()
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        if device.type != "cuda":
            raise ConfigError("precision='fp16' is only supported on CUDA; use 'fp32' or 'bf16' on the CPU.")
        return torch.float16
    # auto
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if cpu_has_native_bf16() else None


def precision_name(dtype: torch.dtype | None) -> str:
    """``"fp32"`` / ``"bf16"`` / ``"fp16"`` for a value returned by ``resolve_precision``.

    Parameters
    ----------
    dtype : torch.dtype or None
        None, ``torch.bfloat16`` or ``torch.float16``.

    Returns
    -------
    str
        The precision's name.
    """
    return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]

"""Choosing where GPU-capable components run: ``--device auto|cpu|gpu``."""

from __future__ import annotations

import shutil
from pathlib import Path

from segframe.errors import SegframeError

DEVICES = ("auto", "cpu", "gpu")


def gpu_present() -> bool:
    """Whether an NVIDIA GPU is visible, without importing a deep-learning framework."""
    return Path("/dev/nvidiactl").exists() or shutil.which("nvidia-smi") is not None


def resolve_device(requested: str) -> str:
    """``"cpu"`` or ``"gpu"`` for a requested ``auto``/``cpu``/``gpu``."""
    if requested not in DEVICES:
        raise SegframeError(f"--device must be one of {', '.join(DEVICES)}, not {requested!r}.")
    if requested == "gpu" and not gpu_present():
        raise SegframeError(
            "--device gpu was asked for, but no NVIDIA GPU is visible on this machine "
            "(no /dev/nvidiactl, no nvidia-smi). Use --device auto or cpu."
        )
    if requested == "auto":
        return "gpu" if gpu_present() else "cpu"
    return requested

"""Which device a local model loads on, and how many CPU threads torch and BLAS get.

Asking torch whether CUDA is there costs the torch import (seconds). On Linux a GPU needs
its kernel driver, whose device files are cheap to look for: without them the answer is
"cpu" and torch stays unimported; with them (or on another OS) torch decides.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path

logger = logging.getLogger(__name__)

_threads_configured = False
_threads_lock = threading.Lock()
_GPU_DRIVER_MARKS = ("/proc/driver/nvidia", "/dev/nvidiactl", "/dev/kfd")


def available_cpus() -> int:
    """CPUs this process may run on (respects container/affinity limits where the OS tells us)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # pragma: no cover - macOS / Windows
        return max(os.cpu_count() or 1, 1)


def load_per_cpu(cpus: int) -> float | None:
    """The 1-minute load average over `cpus`; None where the OS does not report one.

    Cheap (one read of /proc/loadavg): asked once per search query to choose its encoder.
    """
    try:
        return os.getloadavg()[0] / max(cpus, 1)
    except (AttributeError, OSError):  # pragma: no cover - no load average on this OS
        return None


def configure_torch_threads() -> None:
    """Give torch's intra-op pool one thread per available CPU, once per process.

    The setting is process-wide (the embedder shares it), so it is applied once.
    Inter-op threads are left alone: a single forward pass does not use them, and
    torch refuses to change them after any parallel work has started.
    """
    global _threads_configured
    with _threads_lock:
        if _threads_configured:
            return
        import torch

        cpus = available_cpus()
        if torch.get_num_threads() != cpus:
            torch.set_num_threads(cpus)
        _threads_configured = True
        logger.info("torch intra-op threads: %s", torch.get_num_threads())


def limit_blas_threads(threads: int) -> None:
    """Cap NumPy's BLAS (OpenBLAS) threads for the whole process; 0 keeps its default.

    Search multiplies small matrices (a question's ~15 token vectors by ~5 000 candidate
    token vectors, a query vector by the KB's): a second BLAS thread buys little there,
    and on busy cores it waits for the first to be scheduled, which on the shared 2-core
    machine doubled the MaxSim's time (benchmarks/README.md, "/v1/search latency").
    """
    if threads < 1:
        return
    import numpy  # noqa: F401 - threadpoolctl finds BLAS among the libraries loaded
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads, user_api="blas")
    logger.info("BLAS threads: %s", threads)


def gpu_driver_absent() -> bool:
    """True only when this is Linux and no NVIDIA or AMD GPU driver is loaded."""
    return sys.platform.startswith("linux") and not any(
        Path(mark).exists() for mark in _GPU_DRIVER_MARKS
    )


def default_device() -> str:
    """`cuda` when torch sees a GPU, else `cpu`; torch is imported only if a GPU may exist."""
    if gpu_driver_absent():
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"

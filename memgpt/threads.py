"""How many CPU threads torch and onnxruntime use, and that neither spins when cores are busy.

The count: ``--threads N`` / ``threads=N`` when given, else the environment variable
``MEMGPT_THREADS``, else ``OMP_NUM_THREADS``, else the physical cores this process may run on
(hyper-threads share a core's arithmetic units, so more threads than cores only adds contention);
never more than the CPUs the process's affinity allows.

Spinning: by default OpenMP (torch's thread pool) and onnxruntime keep idle worker threads
busy-waiting for the next parallel region. On an idle machine that shaves microseconds; beside
another busy process the spinning threads steal the cores the work needs and generation gets
10-20x slower. torch's OpenMP reads ``OMP_WAIT_POLICY`` (and GNU libgomp ``GOMP_SPINCOUNT``) once,
when ``import torch`` loads it, so :func:`quiet_openmp_env` puts ``PASSIVE`` / ``0`` into the
environment (unless already set) when ``memgpt`` is imported — it has no effect on a process that
imported torch before memgpt; export ``OMP_WAIT_POLICY=PASSIVE`` there. onnxruntime sessions get
``session.intra_op.allow_spinning = 0`` (and inter-op) from :func:`session_options`.

Stdlib only: the torch-free ONNX runtime imports this module; torch is imported only when a
function needs it.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ENV_VAR = "MEMGPT_THREADS"
OPENMP_ENV = {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "0"}
ORT_NO_SPINNING = {"session.intra_op.allow_spinning": "0", "session.inter_op.allow_spinning": "0"}

_configured: int | None = None  # set by the CLI's --threads (or set_threads); None: not set


def quiet_openmp_env() -> None:
    """Ask OpenMP for sleeping, not spinning, idle threads (before torch is imported)."""
    for key, value in OPENMP_ENV.items():
        os.environ.setdefault(key, value)


def allowed_cpus() -> set[int]:
    """The CPU ids this process may run on."""
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return set(range(os.cpu_count() or 1))


def _cpu_list(text: str) -> set[int]:
    """``0-3,8,10-11`` -> {0, 1, 2, 3, 8, 10, 11}."""
    out: set[int] = set()
    for part in text.strip().split(","):
        if part:
            lo, _, hi = part.partition("-")
            out.update(range(int(lo), int(hi or lo) + 1))
    return out


def physical_cores(cpus: set[int] | None = None,
                   sysfs: str | os.PathLike = "/sys/devices/system/cpu") -> int:
    """Physical cores among ``cpus`` (default: the allowed CPUs): the allowed CPUs with their SMT
    siblings counted once (Linux sysfs topology); the CPU count where that is unreadable."""
    cpus = allowed_cpus() if cpus is None else cpus
    cores: set[frozenset[int]] = set()
    try:
        for cpu in cpus:
            path = Path(sysfs) / f"cpu{cpu}" / "topology" / "thread_siblings_list"
            cores.add(frozenset(_cpu_list(path.read_text()) & cpus) or frozenset({cpu}))
    except (OSError, ValueError):
        return max(1, len(cpus))
    return max(1, len(cores))


def _positive(text: str, what: str) -> int:
    try:
        n = int(text.strip())
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"{what} must be a positive whole number of threads, got {text!r}")
    return n


def resolve_threads(requested: int | None = None) -> int:
    """The thread count to use: ``requested``, else ``MEMGPT_THREADS``, else ``OMP_NUM_THREADS``
    (its first value when it is a list), else the physical cores; capped at the allowed CPUs.

    Raises ValueError naming the source when a value is not a positive integer.
    """
    if requested is not None:
        if isinstance(requested, bool) or not isinstance(requested, int) or requested < 1:
            raise ValueError(f"threads must be a positive integer, got {requested!r}")
        n, source = requested, "threads"
    elif os.environ.get(ENV_VAR, "").strip():
        n, source = _positive(os.environ[ENV_VAR], ENV_VAR), ENV_VAR
    elif os.environ.get("OMP_NUM_THREADS", "").strip():
        first = os.environ["OMP_NUM_THREADS"].split(",")[0]
        n, source = _positive(first, "OMP_NUM_THREADS"), "OMP_NUM_THREADS"
    else:
        return physical_cores()
    cap = len(allowed_cpus())
    if n > cap:
        log.warning("%s=%d is more than the %d CPUs this process may use: using %d",
                    source, n, cap, cap)
        n = cap
    return n


def configured_threads() -> int | None:
    """The count set by ``--threads`` / :func:`set_threads` in this process, if any."""
    return _configured


def effective_threads(requested: int | None = None) -> int:
    """``requested`` (checked), else the configured count, else :func:`resolve_threads`."""
    if requested is None and _configured is not None:
        return _configured
    return resolve_threads(requested)


def set_threads(n: int) -> int:
    """Use ``n`` threads from now on in this process: torch (now if it is imported, else via
    ``OMP_NUM_THREADS`` when it is) and every onnxruntime session created afterwards."""
    global _configured
    n = resolve_threads(n)
    _configured = n
    if "torch" in sys.modules:
        apply_torch_threads(n)
    else:  # read by torch (and MKL) at import: no torch import just to set a number
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(n)
    return n


def apply_torch_threads(n: int) -> None:
    """torch: ``n`` intra-op threads and one inter-op thread (memgpt runs no parallel graphs)."""
    import torch

    torch.set_num_threads(n)
    try:
        if torch.get_num_interop_threads() != 1:
            torch.set_num_interop_threads(1)
    except RuntimeError:  # only allowed once, before any inter-op parallel work
        log.debug("torch inter-op threads already fixed at %d", torch.get_num_interop_threads())


def torch_threads_for_load(requested: int | None = None) -> None:
    """What ``memgpt.load(threads=...)`` applies: ``requested``; else the configured count or
    ``MEMGPT_THREADS``; else the default, but never more threads than torch has now (so a
    script's own ``torch.set_num_threads`` is kept)."""
    if requested is not None or _configured is not None or os.environ.get(ENV_VAR, "").strip():
        apply_torch_threads(effective_threads(requested))
        return
    import torch

    n = min(torch.get_num_threads(), resolve_threads(None))
    if n != torch.get_num_threads() or torch.get_num_interop_threads() != 1:
        apply_torch_threads(n)


def session_options(threads: int | None = None, ort: Any = None) -> Any:
    """onnxruntime ``SessionOptions``: :func:`effective_threads` intra-op threads, one inter-op
    thread, no spinning."""
    if ort is None:
        import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = effective_threads(threads)
    opts.inter_op_num_threads = 1
    for key, value in ORT_NO_SPINNING.items():
        opts.add_session_config_entry(key, value)
    return opts

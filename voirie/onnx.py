"""One way to open an ONNX Runtime session, for the anonymizer, the damage models and model checks.

The execution providers are chosen here only: ``VOIRIE_ONNX_PROVIDERS`` (comma-separated,
e.g. ``OpenVINOExecutionProvider``) puts accelerators first, with the CPU always behind
them as the fallback. The CPU settings suit a small shared box: every graph optimisation, a
fixed number of intra-op threads, one inter-op thread, and idle threads that sleep.
"""

from __future__ import annotations

import os
from pathlib import Path

import onnxruntime as ort

PROVIDERS_ENV = "VOIRIE_ONNX_PROVIDERS"
CPU = "CPUExecutionProvider"


def execution_providers(requested: str | None = None) -> list[str]:
    """The providers to run on: ``requested`` or ``$VOIRIE_ONNX_PROVIDERS`` (default: CPU), CPU last.

    Raises ``ValueError`` naming the providers this ONNX Runtime has when one asked for is missing.
    """
    wanted = requested if requested is not None else os.environ.get(PROVIDERS_ENV, "")
    names = [name.strip() for name in wanted.split(",") if name.strip()]
    available = ort.get_available_providers()
    missing = [name for name in names if name not in available]
    if missing:
        raise ValueError(f"ONNX Runtime execution provider(s) {', '.join(missing)} not available; "
                         f"this install has {', '.join(available)}")
    return [name for name in names if name != CPU] + [CPU]


def onnx_session(model: bytes | str | Path, threads: int = 0, *, spinning: bool = False,
                 optimize: bool = True) -> ort.InferenceSession:
    """A session on ``model`` (bytes already checked, or a path); ``threads`` 0 = one per core.

    ONNX Runtime raises its own exception types on a bad file: callers turn them into theirs.
    """
    options = ort.SessionOptions()
    if optimize:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or (os.cpu_count() or 1)
    options.inter_op_num_threads = 1  # the graphs are sequential; more pools only add contention
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Idle worker threads must sleep, not spin: on a 2-core box the anonymizer and the damage
    # model share the cores, and spinning threads steal them (2x slower per frame under load,
    # docs/anonymize.md, "Speed").
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    options.log_severity_level = 3  # the CenterFace graph warns about every initializer
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, options, providers=execution_providers())

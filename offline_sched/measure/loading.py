"""Build or load the model to measure: a preset, a local path, or a hub id in the local cache.

torch and transformers are imported here, lazily, and only when a model is loaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError, MeasurementError
from .presets import PRESETS, get_preset, preset_config

DTYPES = ("auto", "float32", "float16", "bfloat16")
INSTALL_HINT = "pip install 'offline-sched[measure]'"
_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}


@dataclass
class LoadedModel:
    """A model ready for generation, with what the table records about it.

    Attributes:
        model: the ``transformers`` causal-LM module, in eval mode, on its device(s).
        name: model name for the table's ``model`` column.
        device: torch device string of the inputs (``cpu``, ``cuda:0``, ``mps``).
        dtype: parameter dtype name (``float32``, ``float16``, ``bfloat16``).
        weights: ``random`` or ``pretrained``.
        gpu_indices: torch CUDA indices holding parameters (empty off CUDA).
        vocab_size: vocabulary size.
        special_ids: BOS/EOS/PAD token ids, avoided in random prompts.
        max_positions: context length of the config, or ``None`` if it has none.
    """

    model: Any
    name: str
    device: str
    dtype: str
    weights: str
    gpu_indices: tuple[int, ...]
    vocab_size: int
    special_ids: tuple[int, ...]
    max_positions: int | None


def import_torch():
    """Import torch and transformers, or say how to install them.

    Returns:
        The ``(torch, transformers)`` modules.

    Raises:
        MeasurementError: either is not installed.
    """
    try:
        import torch  # lazy: measure extra
        import transformers  # lazy: measure extra
    except ImportError as exc:
        raise MeasurementError(f"measuring needs torch and transformers: {INSTALL_HINT} "
                               f"({exc})") from None
    return torch, transformers


def resolve_dtype(dtype: str, device: str) -> str:
    """Turn ``auto`` into ``float32`` on CPU and ``float16`` on GPUs; check the name."""
    if dtype not in DTYPES:
        raise InputError(f"dtype {dtype!r}: expected one of {', '.join(DTYPES)}")
    if dtype == "auto":
        return "float32" if device == "cpu" else "float16"
    return dtype


def torch_device(device: str) -> str:
    """Check that ``cuda``/``mps``/``cpu`` is available and return the torch device string."""
    torch, _ = import_torch()
    if device == "cuda":
        if not torch.cuda.is_available():
            raise MeasurementError("device cuda: no CUDA GPU visible to torch (CPU-only build "
                                   "or no driver); use --device cpu")
        return "cuda:0"
    if device == "mps":
        if not torch.backends.mps.is_available():
            raise MeasurementError("device mps: Apple Metal (MPS) is not available here; "
                                   "use --device cpu")
        return "mps"
    if device == "cpu":
        return "cpu"
    raise InputError(f"device {device!r}: expected cuda, cpu or mps")


def available_memory_bytes(device: str) -> int | None:
    """Free memory on a device (CUDA: free GPU memory; else MemAvailable or physical RAM)."""
    if device.startswith("cuda"):
        torch, _ = import_torch()
        return int(torch.cuda.mem_get_info(torch.device(device))[0])
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _dtype_kw(transformers) -> str:
    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    return "dtype" if (major, minor) >= (4, 56) else "torch_dtype"


def count_parameters(config) -> int:
    """Number of parameters of the model a config describes, without allocating it."""
    torch, transformers = import_torch()
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(config)
    return sum(p.numel() for p in model.parameters())


def _check_fits(name: str, config, dtype: str, device: str) -> None:
    need = count_parameters(config) * _BYTES[dtype]
    have = available_memory_bytes(device)
    if have is not None and need > have:
        gib = 2 ** 30
        raise MeasurementError(
            f"model {name}: weights need {need / gib:.1f} GiB in {dtype}, only "
            f"{have / gib:.1f} GiB free on {device}; use a smaller preset or dtype")


def _config(model: str, local: bool):
    if model in PRESETS:
        return preset_config(model)
    _, transformers = import_torch()
    try:
        return transformers.AutoConfig.from_pretrained(model, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise _not_found(model, local, exc) from None


def _not_found(model: str, local: bool, exc: Exception) -> InputError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if local:
        return InputError(f"model {model}: cannot load from local path: {first}")
    if model in PRESETS:
        return InputError(
            f"preset {model}: weights of {get_preset(model).hub_id} are not in the local "
            "Hugging Face cache (the hub is not contacted); add --random-weights")
    return InputError(
        f"model {model!r} is not a local path, a preset ({', '.join(PRESETS)}) or a hub id "
        f"in the local cache (the hub is not contacted); use a preset with --random-weights")


def load_model(model: str, device: str = "cpu", dtype: str = "auto",
               random_weights: bool = False, seed: int = 0) -> LoadedModel:
    """Build (random weights) or load (pretrained, local only) a causal LM.

    Args:
        model: preset name, local model directory, or hub id already in the local cache.
        device: ``cuda`` (first GPU), ``cpu`` or ``mps``.
        dtype: ``auto``, ``float32``, ``float16`` or ``bfloat16``.
        random_weights: build from the config with random weights (checks memory first).
        seed: torch seed for the random weights.

    Returns:
        The model and its table metadata.

    Raises:
        InputError: unknown model, or a preset without weights and without --random-weights.
        MeasurementError: torch/transformers missing, device unavailable, or not enough memory.
    """
    torch, transformers = import_torch()
    dev = torch_device(device)
    dtype = resolve_dtype(dtype, device)
    local = Path(model).exists()
    name = Path(model).resolve().name if local else model
    source = model
    if model in PRESETS and not local and not random_weights:
        hub_id = get_preset(model).hub_id
        if hub_id is None:
            raise InputError(f"preset {model} has no pretrained weights; add --random-weights")
        source = hub_id
    kw = {_dtype_kw(transformers): getattr(torch, dtype)}
    try:
        if random_weights:
            config = _config(model, local)
            _check_fits(name, config, dtype, dev)
            torch.manual_seed(seed)
            with torch.device(dev):
                net = transformers.AutoModelForCausalLM.from_config(config, **kw)
        else:
            try:
                net = transformers.AutoModelForCausalLM.from_pretrained(
                    source, local_files_only=True, **kw)
            except (OSError, ValueError) as exc:
                raise _not_found(model, local, exc) from None
            net = net.to(dev)
    except getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError) as exc:
        raise MeasurementError(f"model {name}: out of memory on {dev}: {exc}") from None
    net.eval()
    return _describe(net, name, dev, dtype, "random" if random_weights else "pretrained")


def _describe(net, name: str, dev: str, dtype: str, weights: str) -> LoadedModel:
    cfg = net.config
    specials = {getattr(cfg, k, None) for k in ("bos_token_id", "eos_token_id", "pad_token_id")}
    flat: set[int] = set()
    for s in specials:
        flat.update(s if isinstance(s, list | tuple) else [s] if isinstance(s, int) else [])
    gpus = sorted({p.device.index or 0 for p in net.parameters() if p.device.type == "cuda"})
    return LoadedModel(net, name, dev, dtype, weights, tuple(gpus), int(cfg.vocab_size),
                       tuple(sorted(flat)), getattr(cfg, "max_position_embeddings", None))

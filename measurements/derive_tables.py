"""Derive per-query measurement tables from the public Wilkins/Mortier/Keshav measurements.

Reads the raw public files in ``shared/data/energy-inference/`` (never copied into the repo)
and writes one table per (system, model) to ``measurements/<system>/<model>.csv`` in the schema
of :mod:`offline_sched.costs.tables`. See ``measurements/README.md`` for provenance and for every
cleaning step; the constants below carry the evidence for each choice.

Usage::

    python measurements/derive_tables.py [--shared PATH] [--out measurements]

The output is deterministic: re-running on the same inputs gives byte-identical files. The
script needs only pandas and numpy; it does not import ``offline_sched``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = REPO_ROOT.parent / "shared" / "data" / "energy-inference"
DEFAULT_OUT = REPO_ROOT / "measurements"

#: Aggregated source files (relative to the shared folder), their sweep and the models taken.
#: 7B models come from the e-Energy (E2DC) artefacts; the larger models from parameter-scale.
SMALL_MODELS = ("Llama-2 (7B)", "Mistral (7B)", "Falcon (7B)")
LARGE_MODELS = ("Llama-2 (13B)", "Llama-2 (70B)", "Mixtral (8x7B)", "Falcon (40B)")
SOURCES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("e2dc/all-input-stats.csv", "input", SMALL_MODELS),
    ("e2dc/all-output-stats.csv", "output", SMALL_MODELS),
    ("parameter-scale/all-input-scale-stats.csv", "input", LARGE_MODELS),
    ("parameter-scale/all-output-scale-stats.csv", "output", LARGE_MODELS),
)
M1_TRACE_DIR = "raw-traces/m1-powermetrics"

MODEL_NAMES = {
    "Llama-2 (7B)": "llama-2-7b",
    "Llama-2 (13B)": "llama-2-13b",
    "Llama-2 (70B)": "llama-2-70b",
    "Mistral (7B)": "mistral-7b",
    "Mixtral (8x7B)": "mixtral-8x7b",
    "Falcon (7B)": "falcon-7b",
    "Falcon (40B)": "falcon-40b",
}
#: Tokenizer family of each model (prompt lengths are per tokenizer).
FAMILY = {
    "llama-2-7b": "llama", "llama-2-13b": "llama", "llama-2-70b": "llama",
    "mistral-7b": "mistral", "mixtral-8x7b": "mistral",
    "falcon-7b": "falcon", "falcon-40b": "falcon",
}
#: Model prefix of the M1 powermetrics trace file names.
TRACE_MODEL = {"Llama-2-7b-chat-hf": "llama-2-7b", "Mistral-7B-v0.1": "mistral-7b"}

#: Actual tokenized length of the fixed prompts A..H (the aggregates relabel them 8..1024).
#: Identical in every per-run file that records actual lengths (data README, "What one row is").
PROMPT_TOKENS = {
    "llama": dict(zip("ABCDEFGH", (9, 21, 38, 78, 154, 267, 541, 986), strict=True)),
    "mistral": dict(zip("ABCDEFGH", (9, 20, 33, 74, 137, 267, 541, 985), strict=True)),
    "falcon": dict(zip("ABCDEFGH", (8, 16, 32, 61, 125, 256, 515, 1024), strict=True)),
}
#: Prompt I (nominal 2048) was edited between runs, so its length depends on the run. Values
#: are those recorded in the per-run file of the same run (input-sweep/*.csv,
#: parameter-scale/input-sweep/*.csv); for CUDA they are also checked against ``Total Number
#: of Tokens`` (total - input must be the ~32 generated tokens). M1 Llama-2: no per-run file of
#: the limit-32 run exists; 2117 is the length recorded in the earlier M1 run (uncertain by the
#: 17-token edit). M1 Mistral: the per-run file records 2048 (apparently truncated).
PROMPT_I_TOKENS = {
    ("a100", "llama-2-7b"): 2117, ("a100", "mistral-7b"): 2122, ("a100", "falcon-7b"): 2047,
    ("a100", "llama-2-13b"): 2134, ("a100", "llama-2-70b"): 2134,
    ("a100", "mixtral-8x7b"): 2139, ("a100", "falcon-40b"): 2050,
    ("a100-palmetto", "llama-2-7b"): 2134, ("a100-palmetto", "mistral-7b"): 2139,
    ("a100-palmetto", "falcon-7b"): 2050,
    ("v100", "llama-2-7b"): 2117, ("v100", "mistral-7b"): 2122,
    ("m1-pro", "llama-2-7b"): 2117, ("m1-pro", "mistral-7b"): 2048,
}
#: Output sweeps use prompt C; its nominal label in the input sweep is 32.
OUTPUT_SWEEP_PROMPT = "C"
PROMPT_C_NOMINAL = 32

#: Cells whose ``Total Number of Tokens`` is not prompt + output: the three Llama-2-70B
#: 4096-token rows of parameter-scale/all-output-scale-stats.csv record exactly 4096 (every
#: other 4096 row records 4096 + ~32) and have no per-run source; their limit is used instead.
UNRELIABLE_TOTAL = {("a100", "llama-2-70b", "output", 4096)}

#: Seconds slept by ``mps/mps.py`` between starting the power sampler and generating.
M1_SLEEP_S = 2.0
#: powermetrics samples whose python energy impact is below this are "process asleep"
#: (0.2-7 observed during the sleep, > 500 once generation runs).
M1_SLEEP_IMPACT = 10.0
#: Tolerance (J) when matching an aggregated M1 row to the trace event it was computed from.
M1_MATCH_TOL_J = 1e-3

#: Idle power per metered GPU (W): median of the leading zero-utilisation samples of the
#: nvidia-smi traces (raw-traces/nvidia-smi): Swing A100 40GB 52.9 / 54.4 W; Palmetto A100
#: 30.1 / 30.7 / 34.1 W; Palmetto V100 23.9 / 24.5 / 24.5 / 25.1 W (only traces before
#: 2024-04-03; the later "palmetto-v100" traces idle at 30 W and peak at 300 W, i.e. they are
#: A100 jobs, see the data README). CPU idle is not included: Swing CPU energy is an apportioned
#: average and Palmetto CPU energy already has an assumed idle subtracted.
GPU_IDLE_W = {"a100": 54.0, "a100-palmetto": 31.0, "v100": 24.5}

HARDWARE = {
    "a100": "NVIDIA A100 40GB (Argonne Swing, AMD EPYC 7742)",
    "a100-palmetto": "NVIDIA A100 40GB (Clemson Palmetto, Intel Xeon)",
    "v100": "NVIDIA V100 16GB (Clemson Palmetto, Intel Xeon 6148G)",
    "m1-pro": "Apple M1 Pro (10-core CPU, 14-core GPU, 32GB)",
}
METER = {
    "a100": "nvml+uprof-apportioned",
    "a100-palmetto": "nvml+rapl-minus-idle",
    "v100": "nvml+rapl-minus-idle",
    "m1-pro": "powermetrics",
}
#: GPU memory per device (MB) that identifies a system where labels are unreliable.
GPU_MEMORY_MB = {"a100": 40960.0, "a100-palmetto": 40960.0, "v100": 16384.0}

OUTPUT_COLUMNS = [
    "model", "system", "input_tokens", "output_tokens", "runtime_s", "energy_j",
    "hardware", "device_count", "dtype", "batch_size", "kv_cache", "repeat", "sweep",
    "prompt", "input_tokens_nominal", "output_token_limit", "output_tokens_source",
    "idle_power_w", "energy_raw_j", "runtime_raw_s", "energy_gpu_raw_j", "energy_cpu_raw_j",
    "meter", "source", "trace",
]
SORT_COLUMNS = ["sweep", "input_tokens", "output_token_limit", "repeat", "runtime_raw_s",
                "energy_raw_j", "output_tokens"]
FLOAT_FORMAT = "%.7g"


class DeriveError(Exception):
    """The raw files are missing or do not look as expected."""


def _read_csv(path: Path, **kwargs: object) -> pd.DataFrame:
    if not path.is_file():
        raise DeriveError(f"{path}: no such file")
    return pd.read_csv(path, **kwargs)


def load_aggregate(shared: Path, rel: str, sweep: str, models: Sequence[str]) -> pd.DataFrame:
    """Read one aggregated stats file and normalise it to one row per inference call.

    Args:
        shared: the shared ``energy-inference`` folder.
        rel: file path relative to ``shared``.
        sweep: ``"input"`` or ``"output"``.
        models: model labels (as in the file) to keep.

    Returns:
        Columns ``model, label, sweep, prompt, limit, input_given, total_tokens, repeat,
        device_count, runtime_raw_s, energy_gpu_raw_j, energy_cpu_raw_j, gpu_total_mb,
        source``; start-up rows (tokenizer, model load) removed.

    Raises:
        DeriveError: missing file or column, or an unparsable phase.
    """
    raw = _read_csv(shared / rel)
    raw = raw.rename(columns={"Output Token Limit": "limit", "Number of Output Tokens": "limit"})
    need = ["Phase", "Runtime (s)", "CPU Energy (J)", "GPU Energy (J)", "limit",
            "Number of Input Tokens", "Iteration", "Model", "Number of GPUs",
            "Total Number of Tokens", "System"]
    missing = [c for c in need if c not in raw.columns]
    if missing:
        raise DeriveError(f"{rel}: missing columns {missing}")
    raw = raw[raw["Phase"].str.contains(r"inference-", regex=True)
              & raw["Model"].isin(list(models))]
    key = r"(?P<key>[A-I])" if sweep == "input" else r"(?P<key>\d+)"
    parts = raw["Phase"].str.extract(rf"^(?:start-)?inference-{key}-(?P<rep>\d+)$")
    if parts["key"].isna().any():
        bad = raw.loc[parts["key"].isna(), "Phase"].iloc[0]
        raise DeriveError(f"{rel}: unexpected phase {bad!r} in a {sweep} sweep")
    if (parts["rep"].astype(np.int64) != raw["Iteration"].astype(np.int64)).any():
        raise DeriveError(f"{rel}: phase suffix and Iteration disagree")
    out = pd.DataFrame({
        "model": raw["Model"].map(MODEL_NAMES),
        "label": raw["System"].astype(str),
        "sweep": sweep,
        "prompt": parts["key"] if sweep == "input" else OUTPUT_SWEEP_PROMPT,
        "limit": raw["limit"].astype(np.int64),
        "input_given": raw["Number of Input Tokens"].astype(np.int64),
        "total_tokens": raw["Total Number of Tokens"].astype(np.int64),
        "repeat": raw["Iteration"].astype(np.int64),
        "device_count": raw["Number of GPUs"].astype(np.int64),
        "runtime_raw_s": raw["Runtime (s)"].astype(np.float64),
        "energy_gpu_raw_j": raw["GPU Energy (J)"].astype(np.float64),
        "energy_cpu_raw_j": raw["CPU Energy (J)"].astype(np.float64),
        "gpu_total_mb": (raw["GPU Total Memory (MB)"].astype(np.float64)
                         if "GPU Total Memory (MB)" in raw.columns else np.nan),
        "source": rel,
    })
    if sweep == "output" and (parts["key"].astype(np.int64) != out["limit"]).any():
        raise DeriveError(f"{rel}: phase limit and token-limit column disagree")
    return out.reset_index(drop=True)


def assign_system(frame: pd.DataFrame) -> pd.Series:
    """Map system labels to table names, using GPU memory where labels are unreliable.

    Palmetto rows are classified by ``GPU Total Memory (MB)`` (16384 = V100, 40960 = A100),
    as the data README advises; Swing rows must report 40 GB GPUs where memory is recorded.

    Args:
        frame: output of :func:`load_aggregate`.

    Returns:
        The system name of every row.

    Raises:
        DeriveError: an unknown label or an unexpected GPU memory size.
    """
    label = frame["label"]
    mem = frame["gpu_total_mb"]
    system = pd.Series(pd.NA, index=frame.index, dtype="object")
    swing = label.isin(["Swing AMD+A100", "argonne-swing"])
    palmetto = label.str.startswith("Palmetto")
    system[swing] = "a100"
    system[label == "M1-Pro"] = "m1-pro"
    system[palmetto & (mem == GPU_MEMORY_MB["v100"])] = "v100"
    system[palmetto & (mem == GPU_MEMORY_MB["a100-palmetto"])] = "a100-palmetto"
    if system.isna().any():
        i = system.isna().to_numpy().argmax()
        raise DeriveError(f"unknown system label {label.iloc[i]!r} "
                          f"(GPU memory {mem.iloc[i]} MB)")
    bad_swing = swing & mem.notna() & (mem != GPU_MEMORY_MB["a100"])
    if bad_swing.any():
        raise DeriveError(f"Swing row with {mem[bad_swing].iloc[0]} MB GPUs, expected 40 GB")
    return system.astype(str)


def actual_input_tokens(frame: pd.DataFrame) -> pd.Series:
    """Return the actual tokenized prompt length of every row (nominal labels replaced).

    Args:
        frame: rows with ``system``, ``model``, ``prompt`` columns.

    Returns:
        Input tokens (int64).

    Raises:
        DeriveError: a prompt or (system, model) pair with no known length.
    """
    fam = frame["model"].map(FAMILY)
    lengths = pd.Series(np.nan, index=frame.index)
    for family, table in PROMPT_TOKENS.items():
        sel = fam == family
        lengths[sel] = frame.loc[sel, "prompt"].map(table)
    is_i = frame["prompt"] == "I"
    pairs = pd.Series(list(zip(frame["system"], frame["model"], strict=True)),
                      index=frame.index)
    lengths[is_i] = pairs[is_i].map(PROMPT_I_TOKENS)
    if lengths.isna().any():
        row = frame[lengths.isna()].iloc[0]
        raise DeriveError(f"no token length for prompt {row['prompt']} of "
                          f"{row['system']}/{row['model']}")
    return lengths.astype(np.int64)


def generated_tokens(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Return the number of generated tokens per row and where it came from.

    CUDA ``Total Number of Tokens`` is the re-tokenized prompt + output, so generated =
    total - actual input. Aggregated M1 rows store nominal input + generated, so generated =
    total - recorded input. The count is clipped to ``[1, limit]`` (re-tokenization can add a
    token or two). In the cells of :data:`UNRELIABLE_TOTAL` the limit is used instead.

    Args:
        frame: rows with ``system``, ``input_tokens``, ``input_given``, ``total_tokens``,
            ``limit``.

    Returns:
        ``(output_tokens, source)`` with source ``"generated"`` or ``"limit"``.

    Raises:
        DeriveError: a generated count far outside ``[limit/2, limit]`` on CUDA (a sign of a
            wrong prompt length) or above the limit on M1.
    """
    m1 = frame["system"] == "m1-pro"
    base = frame["input_given"].where(m1, frame["input_tokens"])
    gen = frame["total_tokens"] - base
    limit = frame["limit"]
    cell = pd.Series(list(zip(frame["system"], frame["model"], frame["sweep"], limit,
                              strict=True)), index=frame.index)
    reliable = ~cell.isin(UNRELIABLE_TOTAL)
    slack = np.maximum(2, np.ceil(0.02 * limit)).astype(np.int64)
    low = np.where(m1, 1, limit // 2)
    bad = reliable & ((gen < low) | (gen > limit + slack))
    if bad.any():
        row = frame[bad].iloc[0]
        raise DeriveError(f"{row['source']}: {row['system']}/{row['model']} prompt "
                          f"{row['prompt']}: total {row['total_tokens']} - input "
                          f"{base[bad].iloc[0]} = {gen[bad].iloc[0]} generated tokens for a "
                          f"limit of {row['limit']}")
    out = gen.clip(lower=1, upper=limit).where(reliable, limit).astype(np.int64)
    return out, pd.Series(np.where(reliable, "generated", "limit"), index=frame.index)


def read_m1_trace(path: Path) -> pd.DataFrame:
    """Summarise one headerless powermetrics trace into per-event energies.

    Args:
        path: a ``raw-traces/m1-powermetrics/*/*.csv`` file.

    Returns:
        One row per consecutive run of an event label: ``event, gpu_j, cpu_j`` (as the
        authors computed them: GPU mW x ms, CPU mW x ms x python/all-tasks impact, ``INVALID``
        impacts skipped) and ``sleep_j, sleep_s`` (energy and sampled time of the leading
        samples in which the python process slept before generating).
    """
    names = ["event", "elapsed_ms", "python_impact", "all_impact", "cpu_mw", "gpu_mw"]
    t = pd.read_csv(path, header=None, names=names)
    py = pd.to_numeric(t["python_impact"], errors="coerce")
    share = py / pd.to_numeric(t["all_impact"], errors="coerce")
    run = (t["event"] != t["event"].shift()).cumsum()
    gpu_j = t["gpu_mw"] * t["elapsed_ms"] / 1e6
    cpu_j = t["cpu_mw"] * t["elapsed_ms"] * share / 1e6
    active = py.isna() | (py >= M1_SLEEP_IMPACT)
    asleep = ~active.groupby(run).cummax()
    frame = pd.DataFrame({
        "run": run, "event": t["event"], "gpu_j": gpu_j, "cpu_j": cpu_j,
        "sleep_j": (gpu_j + cpu_j.fillna(0.0)).where(asleep, 0.0),
        "sleep_s": (t["elapsed_ms"] / 1e3).where(asleep, 0.0),
    })
    agg = frame.groupby("run", sort=True).agg(
        event=("event", "first"), gpu_j=("gpu_j", "sum"), cpu_j=("cpu_j", "sum"),
        sleep_j=("sleep_j", "sum"), sleep_s=("sleep_s", "sum"))
    return agg.reset_index(drop=True)


def load_m1_events(shared: Path) -> pd.DataFrame:
    """Read every M1 powermetrics trace of the models we tabulate.

    Args:
        shared: the shared ``energy-inference`` folder.

    Returns:
        Per-event rows (see :func:`read_m1_trace`) with ``model``, ``sweep`` and ``trace``.
    """
    parts = []
    for sweep in ("input", "output"):
        folder = shared / M1_TRACE_DIR / f"{sweep}-sweep"
        for path in sorted(folder.glob("*.csv")):
            model = TRACE_MODEL.get(path.name.split("_")[0])
            if model is None:
                continue
            ev = read_m1_trace(path)
            ev = ev[ev["event"].str.startswith("inference-")]
            parts.append(ev.assign(model=model, sweep=sweep,
                                   trace=path.relative_to(shared).as_posix()))
    if not parts:
        raise DeriveError(f"{shared / M1_TRACE_DIR}: no M1 powermetrics traces")
    return pd.concat(parts, ignore_index=True)


def m1_sleep_energy(rows: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """Find each M1 row's trace event and the energy sampled during the 2 s sleep.

    A row matches the event with the same phase whose recomputed GPU and CPU energies equal the
    published ones (within 1 mJ). Rows without a match get the median of the matched rows of
    the same model and sweep.

    Args:
        rows: M1 rows with ``model, sweep, phase, energy_gpu_raw_j, energy_cpu_raw_j``.
        events: output of :func:`load_m1_events`.

    Returns:
        Frame indexed like ``rows`` with ``sleep_j``, ``sleep_s`` and ``trace`` ("" if the
        value is an estimate).

    Raises:
        DeriveError: one row matched by several events.
    """
    left = rows[["model", "sweep", "phase", "energy_gpu_raw_j", "energy_cpu_raw_j"]]
    left = left.reset_index(names="row")
    cand = left.merge(events, left_on=["model", "sweep", "phase"],
                      right_on=["model", "sweep", "event"], how="inner")
    ok = ((cand["gpu_j"] - cand["energy_gpu_raw_j"]).abs() <= M1_MATCH_TOL_J) \
        & ((cand["cpu_j"] - cand["energy_cpu_raw_j"]).abs() <= M1_MATCH_TOL_J)
    cand = cand[ok]
    if cand["row"].duplicated().any():
        raise DeriveError("an M1 row matches several powermetrics events")
    out = pd.DataFrame(index=rows.index)
    match = cand.set_index("row")
    out["sleep_j"] = match["sleep_j"].reindex(rows.index)
    out["sleep_s"] = match["sleep_s"].reindex(rows.index)
    out["trace"] = match["trace"].reindex(rows.index).fillna("").astype(str)
    typical = out.groupby([rows["model"], rows["sweep"]])["sleep_j"].transform("median")
    out["sleep_j"] = out["sleep_j"].fillna(typical)
    return out


def derive(shared: Path) -> dict[tuple[str, str], pd.DataFrame]:
    """Build every measurement table from the raw public files.

    Args:
        shared: the shared ``energy-inference`` folder.

    Returns:
        ``{(system, model): table}`` with the columns of :data:`OUTPUT_COLUMNS`, rows sorted.

    Raises:
        DeriveError: missing or unexpected raw data.
    """
    if not shared.is_dir():
        raise DeriveError(f"shared data folder not found: {shared}")
    frames = []
    for rel, sweep, models in SOURCES:
        frame = load_aggregate(shared, rel, sweep, models)
        frame["phase"] = np.where(
            frame["sweep"] == "input", "inference-" + frame["prompt"],
            "inference-" + frame["limit"].astype(str)) + "-" + frame["repeat"].astype(str)
        frames.append(frame)
    data = pd.concat(frames, ignore_index=True)
    data["system"] = assign_system(data)

    # Warm-up: drop repetition 0 (by index, not the authors' "phase contains 0" rule).
    data = data[data["repeat"] > 0].reset_index(drop=True)

    data["input_tokens"] = actual_input_tokens(data)
    data["output_tokens"], data["output_tokens_source"] = generated_tokens(data)
    data["input_tokens_nominal"] = np.where(data["sweep"] == "input", data["input_given"],
                                            PROMPT_C_NOMINAL).astype(np.int64)

    data["energy_raw_j"] = data["energy_gpu_raw_j"] + data["energy_cpu_raw_j"]
    data["energy_j"] = data["energy_raw_j"]
    data["runtime_s"] = data["runtime_raw_s"]
    data["trace"] = ""
    data["idle_power_w"] = data["system"].map(GPU_IDLE_W) * data["device_count"]

    # Palmetto: CPU energy = RAPL packages minus an assumed idle, negative where the assumption
    # exceeds the real package power; the true increment cannot be negative, so clip at 0.
    palmetto = data["system"].isin(["v100", "a100-palmetto"])
    data.loc[palmetto, "energy_j"] = (data.loc[palmetto, "energy_gpu_raw_j"]
                                      + data.loc[palmetto, "energy_cpu_raw_j"].clip(lower=0.0))

    # M1: remove the 2 s pre-generation sleep and the energy sampled during it.
    m1 = data["system"] == "m1-pro"
    if m1.any():
        sleep = m1_sleep_energy(data[m1], load_m1_events(shared))
        data.loc[m1, "runtime_s"] = data.loc[m1, "runtime_raw_s"] - M1_SLEEP_S
        data.loc[m1, "energy_j"] = data.loc[m1, "energy_raw_j"] - sleep["sleep_j"]
        data.loc[m1, "trace"] = sleep["trace"]
        matched = sleep["trace"] != ""
        per_model = (sleep.loc[matched, "sleep_j"].groupby(data.loc[m1 & matched, "model"]).sum()
                     / sleep.loc[matched, "sleep_s"].groupby(data.loc[m1 & matched, "model"]).sum())
        data.loc[m1, "idle_power_w"] = data.loc[m1, "model"].map(per_model)

    bad = (data["runtime_s"] <= 0) | (data["energy_j"] <= 0) | data["energy_j"].isna()
    if bad.any():
        row = data[bad].iloc[0]
        raise DeriveError(f"{row['source']}: non-positive corrected value in {row['phase']}")

    data["hardware"] = data["system"].map(HARDWARE)
    data["meter"] = data["system"].map(METER)
    data["dtype"] = np.where(data["system"] == "m1-pro", "fp16", "bf16")
    data["batch_size"] = 1
    data["kv_cache"] = "false"
    data["output_token_limit"] = data["limit"]

    tables = {}
    for (system, model), table in data.groupby(["system", "model"], sort=True):
        table = table.sort_values(SORT_COLUMNS, kind="mergesort")[OUTPUT_COLUMNS]
        tables[(str(system), str(model))] = table.reset_index(drop=True)
    return tables


def write_tables(tables: dict[tuple[str, str], pd.DataFrame], out: Path) -> list[Path]:
    """Write tables to ``out/<system>/<model>.csv`` with fixed float formatting.

    Args:
        tables: output of :func:`derive`.
        out: the ``measurements`` folder.

    Returns:
        The written paths, sorted.
    """
    paths = []
    for (system, model), table in sorted(tables.items()):
        path = out / system / f"{model}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(path, index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
        paths.append(path)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED,
                        help="the shared energy-inference folder (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="output folder (default: %(default)s)")
    args = parser.parse_args(argv)
    if not args.shared.is_dir():
        print(f"error: shared data folder not found: {args.shared}", file=sys.stderr)
        return 2
    try:
        tables = derive(args.shared)
    except DeriveError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for path in write_tables(tables, args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

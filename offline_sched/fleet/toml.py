"""Fleet files (TOML), validated, and the bundled fleets.

A fleet file is TOML::

    window_s = 86400                 # batch window; capacity_s = instances * window_s
    objective = "energy-runtime"     # or "energy-accuracy" (offline paper)
    normalize = true                 # divide each metric by its max over eligible pairs

    [[system]]
    name = "a100"                    # unique
    model = "llama-2-7b"
    instances = 8
    gpu = true                       # the all-gpu baseline uses the gpu systems
    max_input_tokens = 4096          # optional; also max_output_tokens, max_total_tokens
    accuracy = 0.5097                # optional (fraction or percent)
    min_share = 0.0                  # optional share bounds of the query count (paper's γ)
    max_share = 1.0
    energy = { in = -3.89, out = 31.52, inout = 4.27e-2, const = 0.0 }   # J per query
    runtime = { in = -1.00e-2, out = 8.35e-2, inout = 1.07e-4, const = 0.0 }
    # or: cost_model = "<measurement table or fitted-coefficients CSV>" (relative to the
    # fleet file), with optional cost_system = "<system label in that file>" and form =
    # "default" | "paper" (absent: the file's default form, or the one form it holds)
    idle_power_w = 54.0              # planning in time: power of a replica on but idle [W]
    min_instances = 0                # replicas on in every slot
    startup_energy_j = 3100.0        # energy to switch a replica on (a model load) [J]
    energy_includes_idle = true      # per-query energy holds idle power while busy
                                     # (default: true with cost_model, false inline)

Planning in time (``offline_sched.planner``) also reads, at the top level::

    slot_s = 3600                    # slot length; must divide window_s (default: one slot)
    [grid]
    carbon = "carbon.csv"            # gCO2/kWh series (relative to the fleet file)
    price = "price.csv"              # currency/kWh series
    start = "2020-06-15T00:00"       # timestamp of the window's start
    time_format = "%d%b%Y %H:%M:%S"  # optional: the series' timestamp format (default ISO)

Bundled fleets (``hybrid``, ``multi-llm``, ...) ship inside the package and are found from any
working directory.
"""

from __future__ import annotations

import datetime
import math
import os
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

from ..costs.fit import load_cost_models
from ..costs.model import CostModel, MetricModel
from ..errors import InputError
from .model import (
    COEF_KEYS,
    FLEET_KEYS,
    GRID_KEYS,
    OBJECTIVES,
    SYSTEM_KEYS,
    Fleet,
    GridSignals,
    System,
)
from .validate import validate_fleet


def bundled_dir():
    """Return the folder of bundled fleet files (inside the installed package)."""
    return resources.files("offline_sched") / "data" / "fleets"


def bundled_fleets() -> dict[str, Path]:
    """Map bundled fleet name → path of its TOML file."""
    base = Path(str(bundled_dir()))
    return {p.stem: p for p in sorted(base.glob("*.toml"))}


def _resolve(base: Path, name: str) -> Path:
    """A path a fleet file names: relative ones are relative to the fleet file's folder."""
    p = Path(name)
    return p if p.is_absolute() else base / p


def _check(cond: bool, src: str, msg: str) -> None:
    if not cond:
        raise InputError(f"{src}: {msg}")


def _metric_from_table(src: str, key: str, metric: str, spec: Any,
                       ranges: dict[str, Any]) -> MetricModel:
    _check(isinstance(spec, dict), src, f"{key}: expected a table like "
           "{ in = ..., out = ..., inout = ..., const = ... }")
    unknown = set(spec) - set(COEF_KEYS)
    _check(not unknown, src, f"{key}: unknown coefficient(s) {sorted(unknown)}; "
           "expected in, out, inout, const, floor")
    for k, v in spec.items():
        _check(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v),
               src, f"{key}.{k}, value {v!r}: expected a number")
    coef = {str(COEF_KEYS[k]): float(v) for k, v in spec.items() if COEF_KEYS[k]}
    return MetricModel(metric=metric, form="paper", coef=coef,
                       intercept=float(spec.get("const", 0.0)), floor=spec.get("floor"),
                       **ranges)


def _int_opt(src: str, key: str, value: Any, minimum: int = 1) -> int | None:
    if value is None:
        return None
    _check(isinstance(value, int) and not isinstance(value, bool) and value >= minimum, src,
           f"{key}, value {value!r}: expected an integer >= {minimum}")
    return int(value)


def _num(src: str, key: str, value: Any, lo: float, hi: float = math.inf) -> float:
    _check(isinstance(value, int | float) and not isinstance(value, bool)
           and math.isfinite(value) and lo <= value <= hi, src,
           f"{key}, value {value!r}: expected a number in [{lo}, {hi}]")
    return float(value)


def _cost_model(src: str, where: str, entry: dict[str, Any], base: Path,
                cache: dict[Any, Any]) -> CostModel:
    ranges: dict[str, Any] = {}
    for key in ("input_range", "output_range"):
        if key in entry:
            r = entry[key]
            _check(isinstance(r, list) and len(r) == 2 and all(isinstance(v, int) for v in r),
                   src, f"{where}.{key}, value {r!r}: expected [min, max] integers")
            ranges[key] = (int(r[0]), int(r[1]))
    if "cost_model" in entry:
        _check("runtime" not in entry and "energy" not in entry, src,
               f"{where}: give either cost_model or inline energy/runtime, not both")
        path = _resolve(base, entry["cost_model"])
        form = entry.get("form")  # None: the file's default form (or its only one)
        _check(form is None or isinstance(form, str), src,
               f"{where}.form, value {form!r}: expected \"default\" or \"paper\"")
        if (path, form) not in cache:
            cache[(path, form)] = load_cost_models(path, form=form)
        models = cache[(path, form)]
        pair = (entry["model"], str(entry.get("cost_system", entry["name"])))
        _check(pair in models, src, f"{where}: no cost model for model {pair[0]!r} on system "
               f"{pair[1]!r} in {path} (has: {', '.join('/'.join(k) for k in models)})")
        return models[pair]
    _check("runtime" in entry, src, f"{where}: needs 'runtime' coefficients or 'cost_model'")
    runtime = _metric_from_table(src, f"{where}.runtime", "runtime", entry["runtime"], ranges)
    energy = (_metric_from_table(src, f"{where}.energy", "energy", entry["energy"], ranges)
              if "energy" in entry else None)
    return CostModel(model=entry["model"], system=entry["name"], runtime=runtime,
                     energy=energy, source=src)


def fleet_from_dict(data: dict, source: str = "<fleet>", base: Path | None = None) -> Fleet:
    """Build and validate a :class:`Fleet` from parsed TOML.

    Args:
        data: the parsed TOML document.
        source: file name for messages.
        base: folder that relative ``cost_model`` paths are resolved against.

    Returns:
        The fleet.

    Raises:
        InputError: any bad key or value, naming the file, the system and the value.
    """
    base = base or Path.cwd()
    unknown = set(data) - FLEET_KEYS
    _check(not unknown, source, f"unknown top-level key(s) {sorted(unknown)}")
    window = _num(source, "window_s", data.get("window_s", 86400.0), 1e-9)
    objective = data.get("objective", "energy-runtime")
    _check(objective in OBJECTIVES, source,
           f"objective, value {objective!r}: expected one of {', '.join(OBJECTIVES)}")
    normalize = data.get("normalize", True)
    _check(isinstance(normalize, bool), source, f"normalize, value {normalize!r}: expected "
           "true or false")
    entries = data.get("system")
    _check(isinstance(entries, list) and bool(entries), source, "no [[system]] entries")
    assert isinstance(entries, list)
    systems: list[System] = []
    names: set[str] = set()
    cache: dict[Any, Any] = {}
    for n, entry in enumerate(entries, start=1):
        where = f"system #{n}"
        _check(isinstance(entry, dict), source, f"{where}: expected a table")
        _check(isinstance(entry.get("name"), str) and entry["name"].strip() != "", source,
               f"{where}: missing 'name'")
        name = entry["name"]
        where = f"system {name!r}"
        _check(name not in names, source, f"{where}: duplicate system name")
        names.add(name)
        unknown = set(entry) - SYSTEM_KEYS
        _check(not unknown, source, f"{where}: unknown key(s) {sorted(unknown)}")
        _check(isinstance(entry.get("model"), str), source, f"{where}: missing 'model'")
        instances = _int_opt(source, f"{where}.instances", entry.get("instances", 1), 0)
        win = _num(source, f"{where}.window_s", entry.get("window_s", window), 1e-9)
        gpu = entry.get("gpu", False)
        _check(isinstance(gpu, bool), source, f"{where}.gpu, value {gpu!r}: expected a boolean")
        acc = entry.get("accuracy")
        if acc is not None:
            acc = _num(source, f"{where}.accuracy", acc, 0.0, 100.0)
            acc = acc / 100.0 if acc > 1.0 else acc
        lo = _num(source, f"{where}.min_share", entry.get("min_share", 0.0), 0.0, 1.0)
        hi = _num(source, f"{where}.max_share", entry.get("max_share", 1.0), 0.0, 1.0)
        _check(lo <= hi, source, f"{where}: min_share {lo} > max_share {hi}")
        n_inst = 1 if instances is None else instances
        idle = _num(source, f"{where}.idle_power_w", entry.get("idle_power_w", 0.0), 0.0)
        min_on = _int_opt(source, f"{where}.min_instances", entry.get("min_instances", 0), 0)
        _check(min_on is None or min_on <= n_inst, source,
               f"{where}.min_instances, value {min_on!r}: more than its {n_inst} instances")
        startup = _num(source, f"{where}.startup_energy_j", entry.get("startup_energy_j", 0.0),
                       0.0)
        serve = entry.get("serve_model")
        _check(serve is None or (isinstance(serve, str) and serve.strip() != ""), source,
               f"{where}.serve_model, value {serve!r}: expected a model name")
        incl = entry.get("energy_includes_idle", "cost_model" in entry)
        _check(isinstance(incl, bool), source,
               f"{where}.energy_includes_idle, value {incl!r}: expected true or false")
        systems.append(System(
            name=name, model=entry["model"], cost=_cost_model(source, where, entry, base, cache),
            instances=1 if instances is None else instances, window_s=win, gpu=gpu,
            hardware=str(entry.get("hardware", "")),
            max_input_tokens=_int_opt(source, f"{where}.max_input_tokens",
                                      entry.get("max_input_tokens")),
            max_output_tokens=_int_opt(source, f"{where}.max_output_tokens",
                                       entry.get("max_output_tokens")),
            max_total_tokens=_int_opt(source, f"{where}.max_total_tokens",
                                      entry.get("max_total_tokens")),
            accuracy=acc, min_share=lo, max_share=hi, idle_power_w=idle,
            min_instances=0 if min_on is None else min_on, startup_energy_j=startup,
            energy_includes_idle=incl, serve_model=serve))
    slot = data.get("slot_s")
    slot = None if slot is None else _num(source, "slot_s", slot, 1e-9)
    return validate_fleet(Fleet(systems=tuple(systems), name=source, objective=objective,
                                normalize=normalize,
                                description=str(data.get("description", "")), slot_s=slot,
                                grid=_grid(source, data.get("grid"), base)), source)


def _grid(src: str, table: Any, base: Path) -> GridSignals | None:
    """The ``[grid]`` table: signal paths (made absolute), start and time format."""
    if table is None:
        return None
    _check(isinstance(table, dict), src, "grid: expected a table [grid] with carbon, price, "
           "start, time_format")
    unknown = set(table) - GRID_KEYS
    _check(not unknown, src, f"grid: unknown key(s) {sorted(unknown)}; expected "
           f"{', '.join(sorted(GRID_KEYS))}")
    table = dict(table)
    if isinstance(table.get("start"), datetime.datetime | datetime.date):
        table["start"] = table["start"].isoformat()  # an unquoted TOML date-time
    for key, value in table.items():
        _check(isinstance(value, str) and value.strip() != "", src,
               f"grid.{key}, value {value!r}: expected a non-empty string")
    paths = {}
    for key in ("carbon", "price"):
        if key in table:
            paths[key] = str(_resolve(base, table[key]))
    start = table.get("start")
    if start is not None:
        from ..planner.signals import parse_start  # the one parser of timestamps

        try:
            parse_start(start)
        except InputError:
            raise InputError(f"{src}: grid.start, value {start!r}: not an ISO 8601 timestamp "
                             "(e.g. 2020-06-15T00:00)") from None
    return GridSignals(carbon=paths.get("carbon"), price=paths.get("price"), start=start,
                       time_format=table.get("time_format"))


def read_fleet(path: str | os.PathLike[str], name: str | None = None) -> Fleet:
    """Read and validate a fleet TOML file.

    Raises:
        InputError: missing, empty or invalid file.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such fleet file")
    raw = p.read_bytes()
    _check(raw.strip() != b"", str(p), "file is empty")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"{p}: not valid TOML: {exc}") from None
    fleet = fleet_from_dict(data, source=str(p), base=p.parent)
    return replace(fleet, name=name or str(p))


def fleet_files(systems: object) -> list[Path]:
    """Files a fleet TOML names (cost models, ``[grid]`` signals), resolved as the loader does.

    For the CLI's output checks: no output may replace a file the run reads, including the
    ones only the fleet file names. Anything that is not a readable TOML file gives ``[]``
    (loading it reports the error).
    """
    if not isinstance(systems, str | os.PathLike):
        return []
    text = os.fspath(systems)
    path = bundled_fleets().get(text, Path(text))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return []
    entries = data.get("system")
    entries = entries if isinstance(entries, list) else []  # a bad file: the loader says so
    named = [e.get("cost_model") for e in entries if isinstance(e, dict)]
    grid = data.get("grid")
    if isinstance(grid, dict):
        named += [grid.get("carbon"), grid.get("price")]
    return [_resolve(path.parent, n) for n in named if isinstance(n, str) and n.strip()]


def load_systems(systems: Fleet | Sequence[System] | str | os.PathLike[str]) -> Fleet:
    """Load a fleet from a bundled name, a TOML path, a Fleet or a list of :class:`System`.

    A Fleet or a list of systems built in Python is checked as strictly as a fleet file
    (:func:`~offline_sched.fleet.validate.validate_fleet`).

    Args:
        systems: the fleet.

    Returns:
        A validated :class:`Fleet`.

    Raises:
        InputError: unknown bundled name, bad file, anything that is not a fleet, or a bad
            system value, duplicate names, shares or objective.
    """
    if isinstance(systems, Fleet):
        return validate_fleet(systems)
    if isinstance(systems, bytes | dict) or not isinstance(systems, Iterable | os.PathLike):
        raise InputError(f"systems: expected a bundled fleet name, a fleet TOML path, a Fleet "
                         f"or a list of System, got {type(systems).__name__}")
    if isinstance(systems, str | os.PathLike):
        text = os.fspath(systems)
        fleets = bundled_fleets()
        if text in fleets:
            return read_fleet(fleets[text], name=text)
        if text.endswith(".toml") or os.path.sep in text or Path(text).exists():
            return read_fleet(text)
        raise InputError(f"unknown fleet {text!r}: not a bundled fleet "
                         f"({', '.join(fleets)}) nor a .toml file")
    items = list(systems)
    _check(bool(items), "systems", "empty system list")
    for s in items:
        _check(isinstance(s, System), "systems", f"expected System objects, got "
               f"{type(s).__name__}")
    return validate_fleet(Fleet(systems=tuple(items), name="<systems>"), "systems")

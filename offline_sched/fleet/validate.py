"""One validation of a built :class:`Fleet`, shared by the TOML reader and the Python API.

:func:`~offline_sched.fleet.toml.fleet_from_dict` checks the raw TOML values (types, the
accuracy given in percent, ...) while it builds the systems, then calls
:func:`validate_fleet` on the result; :func:`~offline_sched.fleet.toml.load_systems` calls it
on a :class:`Fleet` or a list of :class:`System` built in Python, so both paths refuse the
same fleets with the same :class:`~offline_sched.errors.InputError`.
"""

from __future__ import annotations

import math
import numbers

from ..costs.forms import FORMS
from ..costs.model import CostModel, MetricModel
from ..errors import InputError
from .model import OBJECTIVES, Fleet, System

SHARE_TOLERANCE = 1e-9
"""Slack on the sum of the minimum shares (≤ 1 + tolerance)."""


def _fail(source: str, msg: str) -> None:
    raise InputError(f"{source}: {msg}")


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(float(value)))


def _check_number(source: str, key: str, value: object, lo: float, hi: float = math.inf,
                  lo_open: bool = False) -> None:
    x = float(value) if _is_number(value) else math.nan  # type: ignore[arg-type]
    ok = (lo < x if lo_open else lo <= x) and x <= hi  # False for NaN
    if not ok:
        bound = f"> {lo:g}" if lo_open and hi == math.inf else f"in [{lo:g}, {hi:g}]"
        _fail(source, f"{key}, value {value!r}: expected a finite number {bound}")


def _check_metric(source: str, key: str, m: object) -> None:
    if not isinstance(m, MetricModel):
        _fail(source, f"{key}: expected a MetricModel, got {type(m).__name__}")
    assert isinstance(m, MetricModel)
    if m.form not in FORMS:
        _fail(source, f"{key}.form, value {m.form!r}: expected one of {', '.join(FORMS)}")
    for feat, c in m.coef.items():
        if not _is_number(c):
            _fail(source, f"{key}.{feat}, value {c!r}: expected a finite number")
    if not _is_number(m.intercept):
        _fail(source, f"{key}.const, value {m.intercept!r}: expected a finite number")
    if m.floor is not None and not _is_number(m.floor):
        _fail(source, f"{key}.floor, value {m.floor!r}: expected a finite number")
    for name, rng in (("input_range", m.input_range), ("output_range", m.output_range)):
        if rng is not None and not (len(rng) == 2 and all(_is_int(v) for v in rng)
                                    and rng[0] <= rng[1]):
            _fail(source, f"{key}.{name}, value {rng!r}: expected (min, max) integers")


def _check_limit(source: str, key: str, value: object) -> None:
    if value is not None and not (_is_int(value) and int(value) >= 1):  # type: ignore[call-overload]
        _fail(source, f"{key}, value {value!r}: expected an integer >= 1")


def validate_system(s: object, source: str, n: int = 1) -> None:
    """Check one system's values (not those that involve other systems).

    Args:
        s: the system.
        source: file or ``systems`` for messages.
        n: 1-based position, named while the system has no usable name.

    Raises:
        InputError: naming the system, the field and the value.
    """
    if not isinstance(s, System):
        _fail(source, f"system #{n}: expected System objects, got {type(s).__name__}")
    assert isinstance(s, System)
    if not isinstance(s.name, str) or not s.name.strip():
        _fail(source, f"system #{n}: name, value {s.name!r}: expected a non-empty string")
    where = f"system {s.name!r}"
    if not isinstance(s.model, str) or not s.model:
        _fail(source, f"{where}.model, value {s.model!r}: expected a non-empty string")
    if not (_is_int(s.instances) and s.instances >= 0):
        _fail(source, f"{where}.instances, value {s.instances!r}: expected an integer >= 0")
    _check_number(source, f"{where}.window_s", s.window_s, 0.0, lo_open=True)
    if not isinstance(s.gpu, bool):
        _fail(source, f"{where}.gpu, value {s.gpu!r}: expected a boolean")
    for key in ("max_input_tokens", "max_output_tokens", "max_total_tokens"):
        _check_limit(source, f"{where}.{key}", getattr(s, key))
    if s.accuracy is not None:
        _check_number(source, f"{where}.accuracy", s.accuracy, 0.0, 1.0)
    _check_number(source, f"{where}.min_share", s.min_share, 0.0, 1.0)
    _check_number(source, f"{where}.max_share", s.max_share, 0.0, 1.0)
    if s.min_share > s.max_share:
        _fail(source, f"{where}: min_share {s.min_share} > max_share {s.max_share}")
    _check_number(source, f"{where}.idle_power_w", s.idle_power_w, 0.0)
    _check_number(source, f"{where}.startup_energy_j", s.startup_energy_j, 0.0)
    if not (_is_int(s.min_instances) and 0 <= s.min_instances):
        _fail(source, f"{where}.min_instances, value {s.min_instances!r}: expected an integer "
              ">= 0")
    if _is_int(s.instances) and s.min_instances > s.instances:
        _fail(source, f"{where}.min_instances, value {s.min_instances!r}: more than its "
              f"{s.instances} instances")
    if not isinstance(s.energy_includes_idle, bool):
        _fail(source, f"{where}.energy_includes_idle, value {s.energy_includes_idle!r}: "
              "expected true or false")
    if s.serve_model is not None and (not isinstance(s.serve_model, str)
                                      or not s.serve_model.strip()):
        _fail(source, f"{where}.serve_model, value {s.serve_model!r}: expected a model name")
    if not isinstance(s.cost, CostModel):
        _fail(source, f"{where}.cost: expected a CostModel, got {type(s.cost).__name__}")
    _check_metric(source, f"{where}.runtime", s.cost.runtime)
    if s.cost.energy is not None:
        _check_metric(source, f"{where}.energy", s.cost.energy)


def validate_fleet(fleet: Fleet, source: str | None = None) -> Fleet:
    """Check a fleet as strictly as a fleet file is checked.

    Args:
        fleet: the fleet.
        source: name for messages (default: the fleet's name).

    Returns:
        ``fleet`` itself, unchanged.

    Raises:
        InputError: no systems, a bad system value (negative or fractional instances, a
            non-finite window or coefficient, a share outside [0, 1], ...), duplicate names,
            minimum shares summing above 1, an unknown objective, or an ``energy-accuracy``
            objective with a system that has no accuracy.
    """
    source = fleet.name if source is None else source
    if fleet.objective not in OBJECTIVES:
        _fail(source, f"objective, value {fleet.objective!r}: expected one of "
              f"{', '.join(OBJECTIVES)}")
    if not isinstance(fleet.normalize, bool):
        _fail(source, f"normalize, value {fleet.normalize!r}: expected true or false")
    systems = tuple(fleet.systems)
    if not systems:
        _fail(source, "no systems")
    names: set[str] = set()
    for n, s in enumerate(systems, start=1):
        validate_system(s, source, n)
        if s.name in names:
            _fail(source, f"system {s.name!r}: duplicate system name")
        names.add(s.name)
    if fleet.slot_s is not None:
        _check_number(source, "slot_s", fleet.slot_s, 0.0, lo_open=True)
        for s in systems:
            ratio = s.window_s / fleet.slot_s
            if abs(ratio - round(ratio)) > 1e-9 * max(ratio, 1.0) or round(ratio) < 1:
                _fail(source, f"slot_s, value {fleet.slot_s!r}: does not divide window_s "
                      f"{s.window_s:g} of system {s.name!r} ({ratio:.6g} slots)")
    total_min = sum(s.min_share for s in systems)
    if total_min > 1.0 + SHARE_TOLERANCE:
        _fail(source, f"min_share values sum to {total_min:g} > 1: no assignment can meet them")
    if fleet.objective == "energy-accuracy":
        missing = [s.name for s in systems if s.accuracy is None]
        if missing:
            _fail(source, f"objective 'energy-accuracy' needs 'accuracy' on every system; "
                  f"missing on {', '.join(missing)}")
    return fleet

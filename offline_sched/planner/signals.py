"""Grid signals: carbon intensity (gCO2/kWh) or electricity price (currency/kWh) over time.

A signal file is a CSV whose **first column is a timestamp and second the value**, whatever
their header names: the shared files load as they are (``Time,Carbon Intensity``;
``time,DAM_price`` with ``01jan2022 00:00:00`` timestamps, read with
``time_format="%d%b%Y %H:%M:%S"``). Further columns are ignored.

Semantics: each value holds from its timestamp until the next one (a step function); the last
value holds for one nominal step (the median spacing of the timestamps). A window
``[start, start + window_s)`` is cut into slots of ``slot_s`` seconds and each slot gets the
**time-weighted mean** of the step function over it, so steps that straddle a slot edge count
in proportion.

Checks. When reading: missing or empty file, fewer than two columns or rows, unparseable or
decreasing timestamps, non-numeric values, negative carbon intensities (negative prices are
real and kept). When slicing a window (so that a long file with a bad stretch can still serve
the days it covers): the window not covered, an empty value (a gap), a duplicate timestamp,
or a step longer than twice the nominal one, anywhere the window uses. Every error is an
:class:`~offline_sched.errors.InputError` naming the file, the 1-based data row, the column
and the value as written.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError

UNITS = {"carbon": "gCO2/kWh", "price": "currency/kWh"}
FORMAT_HINT = "pass time_format, e.g. '%d%b%Y %H:%M:%S' for '01jan2022 00:00:00'"
MAX_STEP_RATIO = 2.0
"""A step longer than this many nominal steps is a gap in the series."""


@dataclass(frozen=True)
class Signal:
    """A time series read from a file.

    Attributes:
        name: what it measures: ``carbon`` or ``price`` (or any label).
        unit: unit of the values, e.g. ``gCO2/kWh``.
        times: timestamps, ``datetime64[ns]``, non-decreasing, naive (UTC if the file gave
            offsets).
        values: value per timestamp, float64; NaN where the file's value is empty (a gap).
        source: the file, for messages.
        time_column: header of the timestamp column.
        value_column: header of the value column.
        step_s: nominal step: the median spacing of the timestamps [s].
        time_text: timestamps as written, for messages.
        utc_offset: the offset the file's timestamps carry (e.g. ``UTC+02:00``), or "" for
            none or UTC; a start without an offset is then read as UTC (a warning says so).
    """

    name: str
    unit: str
    times: np.ndarray
    values: np.ndarray
    source: str
    time_column: str = "time"
    value_column: str = "value"
    step_s: float = 3600.0
    time_text: np.ndarray = field(default_factory=lambda: np.array([], dtype=object),
                                  repr=False)
    utc_offset: str = ""
    row_no: np.ndarray = field(default_factory=lambda: np.array([], dtype=np.int64),
                               repr=False)
    """Data row of each timestamp in the file (blank lines counted), for messages."""

    def row(self, i: int) -> int:
        """The file's data row of timestamp ``i`` (header excluded, blank lines counted)."""
        return int(self.row_no[i]) if len(self.row_no) == len(self) else i + 1

    def __len__(self) -> int:
        return int(self.times.shape[0])


def _fail(src: str, row: int, column: str, value: object, msg: str) -> InputError:
    return InputError(f"{src}: row {row}, column {column!r}, value {str(value)!r}: {msg}")


def _leading_blank_lines(p: Path) -> int:
    """Blank lines before the header (skipped; data rows count from the header)."""
    n = 0
    with p.open("rb") as fh:
        for line in fh:  # stops at the first line with text
            if line.decode("utf-8-sig", "ignore").strip():
                break
            n += 1
    return n


def _not_text(p: Path, src: str) -> InputError:
    """The first line that is not UTF-8 text, named by its data row (the header is row 0)."""
    for i, line in enumerate(p.read_bytes().splitlines()):  # error path only
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad = line[exc.start:exc.start + 1].hex()
            where_ = "the header" if i == 0 else f"row {i}"
            shown = line.decode("utf-8", "replace")
            return InputError(f"{src}: {where_} (file line {i + 1}), value {shown!r}: not "
                              f"UTF-8 text (byte 0x{bad} at character {exc.start + 1})")
    return InputError(f"{src}: not UTF-8 text")


def read_signal(path: str | os.PathLike[str], name: str = "carbon", unit: str | None = None,
                time_format: str | None = None) -> Signal:
    """Read a signal CSV (first column timestamp, second value).

    Args:
        path: the CSV file.
        name: ``carbon`` (values must be ≥ 0) or ``price`` (any sign), or another label.
        unit: unit of the values (default: ``gCO2/kWh`` for carbon, ``currency/kWh`` for
            price).
        time_format: ``strftime`` format of the timestamps; default ISO 8601
            (``2020-06-15 00:00:00``, ``2020-06-15T00:00``).

    Returns:
        The signal.

    Raises:
        InputError: missing or empty file, fewer than two columns or two rows, an
            unparseable or decreasing timestamp, a non-numeric value, a negative carbon
            intensity (file, row, column and value named).
    """
    p = Path(path)
    src = str(p)
    if p.is_dir():
        raise InputError(f"{src}: is a directory, not a {name} signal file")
    if not p.is_file():
        what = "no such" if not p.exists() else "not a regular file, expected a"
        raise InputError(f"{src}: {what} {name} signal file")
    if p.stat().st_size == 0:
        raise InputError(f"{src}: file is empty")
    try:
        frame = pd.read_csv(p, dtype=str, keep_default_na=False, skipinitialspace=True,
                            skip_blank_lines=False, skiprows=_leading_blank_lines(p))
    except UnicodeDecodeError:
        raise _not_text(p, src) from None
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{src}: cannot parse as CSV: {first}") from None
    if frame.shape[1] < 2:
        raise InputError(f"{src}: expected two columns (timestamp, value), found "
                         f"{frame.shape[1]} ({', '.join(map(str, frame.columns))})")
    tcol, vcol = str(frame.columns[0]).strip(), str(frame.columns[1]).strip()
    blank = (frame.fillna("").apply(lambda c: c.str.strip()) == "").all(axis=1).to_numpy()
    row_no = np.flatnonzero(~blank) + 1  # data rows as the file numbers them
    frame = frame[~blank]
    if len(frame) < 2:
        raise InputError(f"{src}: needs at least two data rows, found {len(frame)}")
    ttext = frame.iloc[:, 0].str.strip().to_numpy(dtype=object)
    vtext = frame.iloc[:, 1].str.strip()
    times, offset = _parse_times(ttext, time_format, src, tcol, row_no)
    back = np.flatnonzero(np.diff(times) < np.timedelta64(0, "ns"))
    if back.size:
        i = int(back[0]) + 1
        raise _fail(src, row_no[i], tcol, ttext[i], f"earlier than row {row_no[i - 1]} "
                    f"({ttext[i - 1]!r}): timestamps must be sorted")
    values = pd.to_numeric(vtext, errors="coerce").to_numpy(dtype=np.float64, copy=True)
    empty = (vtext == "").to_numpy()
    bad = ~np.isfinite(values) & ~empty
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise _fail(src, row_no[i], vcol, vtext.iloc[i], "not a finite number")
    values[empty] = np.nan
    if name == "carbon":
        neg = np.flatnonzero(values < 0)
        if neg.size:
            i = int(neg[0])
            raise _fail(src, row_no[i], vcol, vtext.iloc[i],
                        "a carbon intensity must be >= 0")
    steps = np.diff(times).astype(np.int64) / 1e9
    positive = steps[steps > 0]
    if positive.size == 0:
        raise InputError(f"{src}: column {tcol!r}: all timestamps are equal")
    return Signal(name=name, unit=unit or UNITS.get(name, ""), times=times, values=values,
                  source=src, time_column=tcol, value_column=vcol,
                  step_s=float(np.median(positive)), time_text=ttext, utc_offset=offset,
                  row_no=row_no)


def _parse_times(text: np.ndarray, time_format: str | None, src: str, column: str,
                 row_no: np.ndarray) -> tuple[np.ndarray, str]:
    """Naive UTC timestamps and the UTC offset the file gave ("" for none or UTC)."""
    empty = np.flatnonzero(text == "")
    if empty.size:
        i = int(empty[0])
        raise _fail(src, row_no[i], column, "", "empty timestamp")
    try:
        parsed = pd.to_datetime(pd.Series(text), format=time_format or "ISO8601",
                                errors="coerce")
    except (ValueError, TypeError) as exc:  # e.g. mixed time zones
        err = _mixed_zones(text, src, column, exc, row_no)
        if err is not None:
            raise err from None
        # every timestamp has an offset, not all the same (a daylight-saving change): UTC
        parsed = pd.to_datetime(pd.Series(text), format=time_format or "ISO8601",
                                errors="coerce", utc=True)
        offset_note = "varying, e.g. across a daylight-saving change"
    else:
        offset_note = ""
    tz = getattr(parsed.dt, "tz", None)
    offset = offset_note or ("" if tz is None or str(tz) in ("UTC", "UTC+00:00") else str(tz))
    if tz is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    bad = parsed.isna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        how = (f"does not match time_format {time_format!r}" if time_format
               else f"not an ISO 8601 timestamp; {FORMAT_HINT}")
        raise _fail(src, row_no[i], column, text[i], how)
    return parsed.to_numpy(dtype="datetime64[ns]"), offset


OFFSET_SUFFIX = r"(?:Z|[+-]\d\d:?\d\d)\s*$"
"""A timestamp's UTC offset as written at its end: ``Z``, ``+0200``, ``-05:30`` (not a date's
``-15``)."""


def _mixed_zones(text: np.ndarray, src: str, column: str, exc: Exception,
                 row_no: np.ndarray) -> InputError | None:
    """The first row whose timestamp has a UTC offset where row 1's has none, or vice versa.

    None when every timestamp has an offset (they differ: read in UTC).
    """
    aware = pd.Series(text).str.contains(OFFSET_SUFFIX, regex=True).to_numpy()
    other = np.flatnonzero(aware != aware[0])
    if other.size:
        i = int(other[0])
        return _fail(src, row_no[i], column, text[i], f"{'has' if aware[i] else 'has no'} "
                     f"UTC offset, unlike row {row_no[0]} ({text[0]!r}): give every timestamp "
                     "the same form")
    if aware[0]:
        return None
    return InputError(f"{src}: column {column!r}: cannot parse timestamps ({exc})")


def _has_offset(start: object) -> bool:
    """Whether a start names its UTC offset (numpy datetimes never do)."""
    try:
        return pd.Timestamp(start).tzinfo is not None  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return False


def parse_start(start: str | datetime | pd.Timestamp | np.datetime64) -> np.datetime64:
    """The window's start as naive ``datetime64[ns]`` (an offset is converted to UTC).

    Raises:
        InputError: not a timestamp.
    """
    try:
        ts = pd.Timestamp(start)
    except (ValueError, TypeError):
        raise InputError(f"start, value {str(start)!r}: not an ISO 8601 timestamp "
                         "(e.g. 2020-06-15T00:00)") from None
    if ts is pd.NaT:
        raise InputError(f"start, value {str(start)!r}: not an ISO 8601 timestamp")
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return np.datetime64(ts.to_datetime64(), "ns")


def slot_values(signal: Signal, start: str | datetime | pd.Timestamp | np.datetime64,
                window_s: float, slot_s: float) -> np.ndarray:
    """Mean of the signal over each slot of the window (time-weighted).

    Args:
        signal: the series.
        start: timestamp of the window's start (slot 0 begins there).
        window_s: window length [s].
        slot_s: slot length [s]; slots are ``[start + i·slot_s, start + (i+1)·slot_s)``
            for ``i < round(window_s / slot_s)``.

    Returns:
        One value per slot, float64.

    Raises:
        InputError: the series does not cover the window, or has an empty value (gap), a
            duplicate timestamp or a step longer than twice its nominal step inside it.
    """
    n_slots = max(int(round(window_s / slot_s)), 1)
    t0 = parse_start(start)
    if signal.utc_offset and not _has_offset(start):
        warnings.warn(f"{signal.source}: timestamps carry a UTC offset ({signal.utc_offset}); "
                      f"the start {str(start)!r} has none and is read as UTC (give it an "
                      "offset, e.g. 2020-06-15T00:00+02:00, to mean local time)", stacklevel=2)
    ns = (signal.times - t0).astype(np.int64).astype(np.float64) / 1e9  # seconds from start
    end_last = ns[-1] + signal.step_s
    src, tcol, vcol = signal.source, signal.time_column, signal.value_column
    txt = signal.time_text if len(signal.time_text) == len(signal) else \
        np.datetime_as_string(signal.times, unit="s").astype(object)
    window_end = n_slots * slot_s
    if ns[0] > 0 or end_last < window_end - 1e-6:
        first = np.datetime_as_string(signal.times[0], unit="s")
        last = np.datetime_as_string(signal.times[-1] + np.timedelta64(
            int(round(signal.step_s * 1e9)), "ns"), unit="s")
        w_end = np.datetime_as_string(t0 + np.timedelta64(int(round(window_end * 1e9)), "ns"),
                                      unit="s")
        raise InputError(f"{src}: column {tcol!r}: the series covers {first} to {last} "
                         f"(rows {signal.row(0)} to {signal.row(len(signal) - 1)}), not the "
                         "whole window "
                         f"{np.datetime_as_string(t0, unit='s')} to {w_end}")
    ends = np.append(ns[1:], end_last)
    lo = int(np.searchsorted(ns, 0.0, side="right")) - 1
    hi = int(np.searchsorted(ns, window_end, side="left"))  # rows lo..hi-1 overlap the window
    sl = slice(lo, hi)
    seg_start, seg_end, val = ns[sl], ends[sl], signal.values[sl]
    _check_window(signal, txt, lo, seg_start, seg_end, val, src, tcol, vcol)
    edges = np.arange(n_slots + 1, dtype=np.float64) * slot_s
    # integral of the step function from 0 to each segment start, then to each slot edge
    lengths = np.minimum(seg_end, window_end) - np.maximum(seg_start, 0.0)
    cum = np.concatenate([[0.0], np.cumsum(val * lengths)])
    k = np.clip(np.searchsorted(seg_start, edges, side="right") - 1, 0, len(val) - 1)
    at = cum[k] + val[k] * (edges - np.maximum(seg_start[k], 0.0))
    return np.diff(at) / slot_s


def _check_window(signal: Signal, txt: np.ndarray, lo: int, seg_start: np.ndarray,
                  seg_end: np.ndarray, val: np.ndarray, src: str, tcol: str, vcol: str
                  ) -> None:
    gap = np.flatnonzero(np.isnan(val))
    if gap.size:
        i = lo + int(gap[0])
        raise _fail(src, signal.row(i), vcol, "", f"empty value (a gap in the series at {txt[i]}) "
                    "inside the window")
    dup = np.flatnonzero(seg_end <= seg_start)
    if dup.size:
        i = lo + int(dup[0]) + 1
        raise _fail(src, signal.row(i), tcol, txt[i], f"duplicate timestamp (same as row "
                    f"{signal.row(i - 1)}) inside the window")
    long = np.flatnonzero(seg_end - seg_start > MAX_STEP_RATIO * signal.step_s + 1e-9)
    if long.size:
        i = lo + int(long[0])
        nxt = txt[i + 1] if i + 1 < len(txt) else "the end"
        raise _fail(src, signal.row(i), tcol, txt[i], f"gap in the series: the next timestamp is "
                    f"{nxt}, {seg_end[long[0]] - seg_start[long[0]]:g} s later (nominal step "
                    f"{signal.step_s:g} s) inside the window")


def constant_signal(value: float, name: str = "carbon", start: str = "2000-01-01T00:00",
                    days: int = 2) -> Signal:
    """A flat hourly signal (for tests and examples)."""
    t0 = parse_start(start)
    times = t0 + np.arange(24 * days, dtype=np.int64) * np.timedelta64(3600, "s")
    return Signal(name=name, unit=UNITS.get(name, ""), times=times.astype("datetime64[ns]"),
                  values=np.full(times.size, float(value)), source=f"<constant {name}>",
                  step_s=3600.0)

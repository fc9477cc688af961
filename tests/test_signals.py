"""Grid signals: reading, slot means (checked by sampling), errors, the shared and bundled files."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from offline_sched.errors import InputError
from offline_sched.planner.signals import Signal, read_signal, slot_values

SHARED_GRID = Path(__file__).resolve().parents[2] / "shared" / "data" / "grid"
BUNDLED = Path(__file__).resolve().parents[1] / "offline_sched" / "data" / "grid"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def series_csv(tmp_path: Path, times, values, header="when,gCO2") -> Path:
    lines = [header] + [f"{t},{v}" for t, v in zip(times, values, strict=True)]
    return write(tmp_path / "s.csv", "\n".join(lines) + "\n")


def sampled_means(times: pd.DatetimeIndex, values: np.ndarray, step_s: float, start: str,
                  window_s: int, slot_s: int) -> np.ndarray:
    """Slot means by sampling the step function every second (independent of the code)."""
    t0 = pd.Timestamp(start)
    secs = (times - t0).total_seconds().to_numpy()
    grid = np.arange(window_s) + 0.5
    idx = np.searchsorted(secs, grid, side="right") - 1
    assert (idx >= 0).all() and (grid < secs[-1] + step_s).all()
    return values[idx].reshape(-1, slot_s).mean(axis=1)


def test_hourly_values_and_two_hour_means(tmp_path):
    times = pd.date_range("2020-06-15", periods=30, freq="h")
    vals = np.arange(30, dtype=float) * 10 + 5
    sig = read_signal(series_csv(tmp_path, times.strftime("%Y-%m-%d %H:%M:%S"), vals))
    assert isinstance(sig, Signal) and sig.value_column == "gCO2" and sig.time_column == "when"
    assert sig.unit == "gCO2/kWh" and sig.step_s == 3600
    np.testing.assert_allclose(slot_values(sig, "2020-06-15T00:00", 86400, 3600), vals[:24])
    np.testing.assert_allclose(slot_values(sig, "2020-06-15", 86400, 7200),
                               vals[:24].reshape(12, 2).mean(axis=1))


@pytest.mark.parametrize("start,slot_s", [("2020-06-15 00:15", 5400), ("2020-06-15 01:10", 600),
                                          ("2020-06-15 00:00", 3600)])
def test_time_weighted_means_across_step_edges(tmp_path, start, slot_s):
    rng = np.random.default_rng(3)
    # irregular steps (15 and 30 minutes), as in the GB file
    steps = rng.choice([900, 1800], size=120)
    times = pd.Timestamp("2020-06-14 22:00") + pd.to_timedelta(np.r_[0, np.cumsum(steps)[:-1]],
                                                               unit="s")
    vals = rng.uniform(50, 400, times.size)
    path = series_csv(tmp_path, times.strftime("%Y-%m-%dT%H:%M:%S"), vals,
                      header="Time,Carbon Intensity")
    sig = read_signal(path)
    window = 6 * 3600
    got = slot_values(sig, start, window, slot_s)
    want = sampled_means(pd.DatetimeIndex(times), vals, sig.step_s, start, window, slot_s)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_time_format_and_negative_prices(tmp_path):
    hours = pd.date_range("2022-01-01", periods=26, freq="h")
    times = hours.strftime("%d%b%Y %H:%M:%S").str.lower()
    vals = np.linspace(-0.1, 0.2, 26)
    path = series_csv(tmp_path, times, [f"{v:.4f}" for v in vals], header="time,DAM_price")
    with pytest.raises(InputError, match=r"row 1, column 'time', value '01jan2022 00:00:00'.*"
                                         "time_format"):
        read_signal(path, name="price")
    sig = read_signal(path, name="price", time_format="%d%b%Y %H:%M:%S")
    got = slot_values(sig, "2022-01-01", 86400, 3600)
    np.testing.assert_allclose(got, np.round(vals[:24], 4))
    assert (got < 0).any()


@pytest.mark.parametrize("text,match", [
    ("", "file is empty"),
    ("when\n2020-01-01 00:00,1\n", "expected two columns"),
    ("when,v\n2020-01-01 00:00:00,1\n", "at least two data rows"),
    ("when,v\n2020-01-01 00:00:00,1\n2020-01-01 01:00:00,abc\n",
     r"row 2, column 'v', value 'abc': not a finite number"),
    ("when,v\n2020-01-01 00:00:00,1\nyesterday,2\n",
     r"row 2, column 'when', value 'yesterday': not an ISO 8601"),
    ("when,v\n2020-01-01 01:00:00,1\n2020-01-01 00:00:00,2\n",
     r"row 2, column 'when', value '2020-01-01 00:00:00': earlier than row 1"),
    ("when,v\n2020-01-01 00:00:00,-1\n2020-01-01 01:00:00,2\n",
     r"row 1, column 'v', value '-1': a carbon intensity must be >= 0"),
    ("when,v\n2020-01-01 00:00:00,inf\n2020-01-01 01:00:00,2\n", r"row 1.*not a finite"),
])
def test_read_errors(tmp_path, text, match):
    path = write(tmp_path / "bad.csv", text)
    with pytest.raises(InputError, match=match) as err:
        read_signal(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such carbon signal file"):
        read_signal(tmp_path / "nope.csv")


def _day(tmp_path, edit) -> Path:
    times = list(pd.date_range("2020-06-15", periods=30, freq="h").strftime("%Y-%m-%d %H:%M:%S"))
    vals = [str(v) for v in range(100, 130)]
    edit(times, vals)
    return series_csv(tmp_path, times, vals)


def test_window_errors_name_row_column_value(tmp_path):
    gap = read_signal(_day(tmp_path, lambda t, v: v.__setitem__(5, "")))
    with pytest.raises(InputError, match=r"row 6, column 'gCO2', value '': empty value"):
        slot_values(gap, "2020-06-15", 86400, 3600)
    # a gap after the window is not used: fine
    np.testing.assert_allclose(slot_values(gap, "2020-06-15 06:00", 3600 * 20, 3600),
                               np.arange(106, 126))
    dup = read_signal(_day(tmp_path, lambda t, v: t.__setitem__(4, t[3])))
    with pytest.raises(InputError, match=r"row 5, column 'when', value '2020-06-15 03:00:00': "
                                         "duplicate timestamp"):
        slot_values(dup, "2020-06-15", 86400, 3600)

    def hole(t, v):
        del t[8:11]
        del v[8:11]
    holed = read_signal(_day(tmp_path, hole))
    with pytest.raises(InputError, match=r"row 8, column 'when'.*gap in the series"):
        slot_values(holed, "2020-06-15", 86400, 3600)
    ok = read_signal(_day(tmp_path, lambda t, v: None))
    with pytest.raises(InputError, match="not the whole window"):
        slot_values(ok, "2020-06-14 23:00", 86400, 3600)
    with pytest.raises(InputError, match="not the whole window"):
        slot_values(ok, "2020-06-15 12:00", 86400, 3600)
    with pytest.raises(InputError, match="start, value 'noon'"):
        slot_values(ok, "noon", 86400, 3600)


@pytest.mark.parametrize("name,rows,first", [
    ("carbon_intensity_gb_2020.csv", 21980, 120.99546661944396),
    ("carbon_intensity_fr_2020.csv", 18574, 42.34123797146737),
    ("carbon_intensity_ger_2020.csv", 37147, 218.29003068829462)])
def test_shared_carbon_files_load_as_they_are(name, rows, first):
    path = SHARED_GRID / name
    if not path.is_file():
        pytest.skip("../shared/data/grid is absent")
    sig = read_signal(path)
    assert len(sig) == rows and sig.values[0] == first
    assert (sig.time_column, sig.value_column) == ("Time", "Carbon Intensity")
    day = slot_values(sig, "2020-05-15", 86400, 3600)
    assert day.shape == (24,) and (day > 0).all()


def test_shared_price_file_loads_with_time_format():
    path = SHARED_GRID / "day_ahead_price_be_2022_2024.csv"
    if not path.is_file():
        pytest.skip("../shared/data/grid is absent")
    sig = read_signal(path, name="price", time_format="%d%b%Y %H:%M:%S")
    assert len(sig) == 26307 and np.isnan(sig.values).sum() == 3724
    day = slot_values(sig, "2024-05-12", 86400, 3600)
    assert (day < 0).sum() == 9 and day.min() == pytest.approx(-0.13876, abs=1e-5)
    with pytest.raises(InputError, match=r"row 7252, column 'time', value '30oct2022 02:00:00'"):
        slot_values(sig, "2022-10-30", 86400, 3600)  # the autumn DST hour, twice
    with pytest.raises(InputError, match=r"row 2043, column 'DAM_price', value ''"):
        slot_values(sig, "2022-03-27", 86400, 3600)  # the spring DST hour, empty


@pytest.mark.parametrize("region,source", [("gb", "carbon_intensity_gb_2020.csv"),
                                           ("fr", "carbon_intensity_fr_2020.csv"),
                                           ("de", "carbon_intensity_ger_2020.csv")])
def test_bundled_days_load_and_match_their_source(region, source):
    bundled = read_signal(BUNDLED / f"carbon_{region}_2020-05-15.csv")
    assert len(bundled) == 48
    hourly = slot_values(bundled, "2020-05-15", 86400, 3600)
    assert hourly.shape == (24,) and (hourly > 0).all()
    path = SHARED_GRID / source
    if not path.is_file():
        pytest.skip("../shared/data/grid is absent")
    full = slot_values(read_signal(path), "2020-05-15", 86400, 3600)
    np.testing.assert_allclose(hourly, full, rtol=1e-6)


def test_bundled_price_day():
    sig = read_signal(BUNDLED / "price_be_2024-05-12.csv", name="price")
    day = slot_values(sig, "2024-05-12", 86400, 3600)
    assert (day < 0).sum() == 9
    path = SHARED_GRID / "day_ahead_price_be_2022_2024.csv"
    if path.is_file():
        full = read_signal(path, name="price", time_format="%d%b%Y %H:%M:%S")
        np.testing.assert_allclose(day, slot_values(full, "2024-05-12", 86400, 3600))


def test_offsets_in_the_file_and_a_start_without_one_warn(tmp_path):
    """+02:00 stamps with a naive start: read as UTC (2 h apart from local), said so."""
    path = tmp_path / "tz.csv"
    path.write_text("Time,v\n" + "".join(f"2020-05-15T{h:02d}:00+02:00,{h}\n"
                                         for h in range(24)))
    sig = read_signal(path)
    with pytest.warns(UserWarning, match=r"UTC offset \(UTC\+02:00\).*read as UTC"):
        naive = slot_values(sig, "2020-05-14T22:00", 7200.0, 3600.0)
    assert naive.tolist() == [0.0, 1.0]  # 22:00 UTC is 00:00+02:00
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        local = slot_values(sig, "2020-05-15T00:00+02:00", 7200.0, 3600.0)
    assert local.tolist() == [0.0, 1.0]


def test_rows_are_numbered_as_in_the_file_when_it_has_blank_lines(tmp_path):
    """A blank line still counts: the bad value on file line 7 is data row 6."""
    path = tmp_path / "blank.csv"
    lines = ["Time,v"] + [f"2020-05-15T{h:02d}:00,{h}" for h in range(8)]
    lines.insert(3, "")          # a blank line as file line 4 (data row 3)
    lines[6] = "2020-05-15T04:00,x"  # file line 7 = data row 6
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"row 6, column 'v', value 'x'"):
        read_signal(path)
    lines[6] = "2020-05-15T04:00,4"
    lines.insert(8, "  ,  ")      # whitespace only, file line 9 (data row 8): skipped
    path.write_text("\n".join(lines) + "\n")
    sig = read_signal(path)
    assert [sig.row(i) for i in range(len(sig))] == [1, 2, 4, 5, 6, 7, 9, 10]


def test_a_blank_line_before_the_header_and_a_daylight_saving_change_load(tmp_path):
    path = tmp_path / "dst.csv"
    stamps = ["2020-03-29T00:00+01:00", "2020-03-29T01:00+01:00", "2020-03-29T03:00+02:00",
              "2020-03-29T04:00+02:00"]  # 02:00 local does not exist: hourly in UTC
    path.write_text("\n\nTime,v\n" + "".join(f"{t},{i}\n" for i, t in enumerate(stamps)))
    sig = read_signal(path)
    assert sig.utc_offset.startswith("varying")
    assert (np.diff(sig.times).astype("timedelta64[s]").astype(int) == 3600).all()
    assert sig.row(0) == 1  # rows count from the header
    with pytest.warns(UserWarning, match="UTC offset"):
        assert slot_values(sig, "2020-03-28T23:00", 7200.0, 3600.0).tolist() == [0.0, 1.0]

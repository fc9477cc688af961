"""Derive the bundled example grid days (offline_sched/data/grid/) from ../shared/data/grid/.

    python measurements/derive_grid_days.py            # writes offline_sched/data/grid/*.csv
    python measurements/derive_grid_days.py --check    # recomputes and compares, writes nothing

Carbon (GB, FR, DE): the day of 2020 whose max/min intensity ratio is, summed over the three
regions, closest (in log ratio) to each region's median daily ratio — a *typical* day in all
three at once, so examples can switch region with the same ``start``. Each day is cut to
48 half-hours; a half-hour's value is the time-weighted mean of the source's steps inside it
(GB mixes 15- and 30-minute steps, DE has 15-minute steps). Columns keep the source's
headers (``Time,Carbon Intensity``); timestamps are ISO 8601.

Price (BE): among the gap-free 24-hour days (no DST change, no empty price), the one with the
largest negative-price total Σ max(−p, 0): the day where a planner can earn most by
consuming. Hourly, source headers (``time,DAM_price``), timestamps rewritten to ISO 8601.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "grid"
OUT = REPO / "offline_sched" / "data" / "grid"
CARBON = {"gb": "carbon_intensity_gb_2020.csv", "fr": "carbon_intensity_fr_2020.csv",
          "de": "carbon_intensity_ger_2020.csv"}
PRICE = "day_ahead_price_be_2022_2024.csv"
STATA = "%d%b%Y %H:%M:%S"


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def load_carbon(region: str) -> pd.Series:
    frame = pd.read_csv(SHARED / CARBON[region])
    return pd.Series(frame.iloc[:, 1].to_numpy(float),
                     index=pd.to_datetime(frame.iloc[:, 0]), name=frame.columns[1])


def typical_day() -> pd.Timestamp:
    """The 2020 day closest to every region's median daily max/min ratio."""
    logs = {}
    for region in CARBON:
        s = load_carbon(region)["2020-01-01":"2020-12-31 23:59:59"]
        day = s.groupby(s.index.floor("D")).agg(["max", "min"])
        logs[region] = np.log(day["max"] / day["min"])
    frame = pd.DataFrame(logs).dropna()
    score = (frame - frame.median()).abs().sum(axis=1)
    return score.idxmin()


def half_hours(series: pd.Series, day: pd.Timestamp) -> pd.DataFrame:
    """48 time-weighted half-hour means of a step series (value holds until the next row)."""
    t = series.index.to_numpy(dtype="datetime64[s]").astype(np.int64).astype(float)
    v = series.to_numpy(float)
    ends = np.r_[t[1:], t[-1] + np.median(np.diff(t))]
    edges = pd.Timestamp(day).value // 10**9 + np.arange(49) * 1800.0
    means = []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        overlap = np.clip(np.minimum(ends, b) - np.maximum(t, a), 0, None)
        means.append(float(overlap @ v / (b - a)))
    times = pd.to_datetime(edges[:-1], unit="s").strftime("%Y-%m-%d %H:%M:%S")
    return pd.DataFrame({"Time": times, series.name: np.round(means, 6)})


def negative_price_day() -> tuple[pd.Timestamp, pd.DataFrame]:
    raw = pd.read_csv(SHARED / PRICE, dtype=str, keep_default_na=False)
    t = pd.to_datetime(raw["time"], format=STATA)
    v = pd.to_numeric(raw["DAM_price"].replace("", np.nan))
    frame = pd.DataFrame({"day": t.dt.floor("D"), "t": t, "v": v})
    stats = frame.groupby("day").agg(n=("v", "size"), gaps=("v", lambda s: s.isna().sum()),
                                     neg=("v", lambda s: float((-s.clip(upper=0)).sum())))
    ok = stats[(stats.n == 24) & (stats.gaps == 0)]
    day = ok["neg"].idxmax()
    rows = frame[frame.day == day]
    out = pd.DataFrame({"time": rows.t.dt.strftime("%Y-%m-%d %H:%M:%S").to_numpy(),
                        "DAM_price": rows.v.to_numpy()})
    return day, out


def derive() -> dict[str, pd.DataFrame]:
    day = typical_day()
    files = {}
    for region in CARBON:
        files[f"carbon_{region}_{day:%Y-%m-%d}.csv"] = half_hours(load_carbon(region), day)
    pday, price = negative_price_day()
    files[f"price_be_{pday:%Y-%m-%d}.csv"] = price
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    args = parser.parse_args(argv)
    if not SHARED.is_dir():
        print(f"{SHARED} is missing: nothing to derive", file=sys.stderr)
        return 1
    files = derive()
    for name, frame in files.items():
        path = OUT / name
        text = frame.to_csv(index=False, lineterminator="\n")
        if args.check:
            same = path.is_file() and path.read_text() == text
            print(f"{name}: {'identical' if same else 'DIFFERS'}")
            if not same:
                return 1
        else:
            OUT.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path.relative_to(REPO)} ({len(frame)} rows)")
    for src in [*CARBON.values(), PRICE]:
        print(f"source {src}: md5 {md5(SHARED / src)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

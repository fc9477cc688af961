"""The Dask engine: group → solve → expand on partitioned Parquet equals the in-process path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

dask = pytest.importorskip("dask")
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword")  # inside dask

pytest.importorskip("dask.dataframe")
pytest.importorskip("pyarrow")

from offline_sched import InfeasibleError, InputError, solve  # noqa: E402
from offline_sched.engines.dask import solve_dask  # noqa: E402
from offline_sched.synth import synthetic_workload  # noqa: E402

FLEET = """
window_s = {window}
[[system]]
name = "small"
model = "llama-2-7b"
instances = 4
max_output_tokens = 512
energy = {{ in = 0.5, out = 20.0, inout = 0.05 }}
runtime = {{ in = 0.002, out = 1.2, inout = 0.0002 }}
[[system]]
name = "gpu"
model = "llama-2-7b"
instances = 2
gpu = true
energy = {{ in = 0.3, out = 25.0, inout = 0.04, const = 5.0 }}
runtime = {{ in = 0.001, out = 0.08, inout = 0.0001, const = 0.1 }}
[[system]]
name = "gpu2"
model = "llama-2-7b"
instances = 1
gpu = true
energy = {{ in = 0.35, out = 24.0, inout = 0.045, const = 4.0 }}
runtime = {{ in = 0.0012, out = 0.09, inout = 0.00011, const = 0.1 }}
"""


def write_parts(frame: pd.DataFrame, folder: Path, parts: int) -> Path:
    folder.mkdir()
    for i, rows in enumerate(np.array_split(np.arange(len(frame)), parts)):
        frame.iloc[rows].to_parquet(folder / f"part-{i:03d}.parquet", index=False)
    return folder


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    path = tmp_path / "fleet.toml"
    path.write_text(FLEET.format(window=30000))  # the first GPU pool's capacity binds
    return path


@pytest.fixture
def day() -> pd.DataFrame:
    frame = synthetic_workload(3000, seed=7)[["query_id", "input_tokens", "output_tokens"]]
    # duplicated token pairs make classes of several queries, spread over the partitions
    frame.loc[1500:, ["input_tokens", "output_tokens"]] = (
        frame.loc[:1499, ["input_tokens", "output_tokens"]].to_numpy())
    return frame


def read_assignment(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)
    return frame.astype({"query_id": str, "system": str}).reset_index(drop=True)


def expected(frame: pd.DataFrame, fleet: Path, lam: float = 0.5) -> pd.DataFrame:
    sched = solve(frame, str(fleet), lam)
    assert sched.feasible
    return sched.assignment.astype({"query_id": str, "system": str})


def test_distributed_cluster_matches_in_process_path(tmp_path, fleet, day):
    distributed = pytest.importorskip("distributed")
    src = write_parts(day, tmp_path / "day", parts=5)
    want = expected(day, fleet)
    assert want["system"].nunique() >= 2
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        res = solve_dask(src, str(fleet), 0.5, tmp_path / "out.parquet", scheduler=client)
    assert res.partitions >= 4
    got = read_assignment(tmp_path / "out.parquet")
    pd.testing.assert_frame_equal(got, want)
    assert res.schedule.feasible


@pytest.mark.parametrize("scheduler", ["synchronous", "threads"])
def test_local_schedulers_match_and_csv_output(tmp_path, fleet, day, scheduler):
    src = write_parts(day, tmp_path / "day", parts=4)
    res = solve_dask(src, str(fleet), 0.3, tmp_path / "out.csv", scheduler=scheduler)
    pd.testing.assert_frame_equal(read_assignment(tmp_path / "out.csv"),
                                  expected(day, fleet, 0.3))
    assert (tmp_path / "out.csv").read_text().startswith("query_id,system\n")
    assert res.schedule.summary["gap"] <= 1e-6


def test_split_classes_continue_across_partitions(tmp_path, fleet):
    # one class of 400 identical queries, in four partitions, that the optimum must split
    frame = pd.DataFrame({"query_id": [f"j{i}" for i in range(400)],
                          "input_tokens": 100, "output_tokens": 100})
    path = tmp_path / "fleet.toml"
    path.write_text(FLEET.format(window=1500))
    src = write_parts(frame, tmp_path / "same", parts=4)
    want = expected(frame, path)
    assert want["system"].nunique() > 1
    solve_dask(src, str(path), 0.5, tmp_path / "out.parquet", scheduler="synchronous")
    pd.testing.assert_frame_equal(read_assignment(tmp_path / "out.parquet"), want)


def test_generated_ids_follow_global_row_order(tmp_path, fleet, day):
    frame = day.drop(columns="query_id")
    src = write_parts(frame, tmp_path / "noid", parts=4)
    solve_dask(src, str(fleet), 0.5, tmp_path / "out.csv", scheduler="synchronous")
    pd.testing.assert_frame_equal(read_assignment(tmp_path / "out.csv"),
                                  expected(frame, fleet))


def test_bad_input_is_named(tmp_path, fleet, day):
    bad = day.copy()
    bad.loc[2900, "output_tokens"] = 0
    src = write_parts(bad, tmp_path / "bad", parts=4)
    with pytest.raises(InputError, match=r"partition 3.*output_tokens.*>= 1"):
        solve_dask(src, str(fleet), 0.5, tmp_path / "out.csv", scheduler="synchronous")
    dup = day.copy()
    dup.loc[2999, "query_id"] = dup.loc[0, "query_id"]
    src = write_parts(dup, tmp_path / "dup", parts=4)
    with pytest.raises(InputError, match="duplicate query ids"):
        solve_dask(src, str(fleet), 0.5, tmp_path / "out.csv", scheduler="synchronous")
    with pytest.raises(InputError, match="no .parquet files"):
        (tmp_path / "empty").mkdir()
        solve_dask(tmp_path / "empty", str(fleet), 0.5, tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()


def test_queries_no_system_can_take_are_infeasible(tmp_path):
    path = tmp_path / "fleet.toml"
    path.write_text(FLEET.format(window=1e6).split("[[system]]\nname = \"gpu\"")[0])
    frame = pd.DataFrame({"input_tokens": [10, 20], "output_tokens": [100, 600]})
    src = write_parts(frame, tmp_path / "long", parts=2)
    with pytest.raises(InfeasibleError, match="fit no system's token limits"):
        solve_dask(src, str(path), 0.5, tmp_path / "out.csv", scheduler="synchronous")


def test_cli_engine_dask(tmp_path, fleet, day):
    from click.testing import CliRunner

    from offline_sched.cli.main import cli

    src = write_parts(day, tmp_path / "day", parts=4)
    out = tmp_path / "assignment.csv"
    res = CliRunner().invoke(cli, ["solve", str(src), "--engine", "dask", "--systems",
                                   str(fleet), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "gap=" in res.output
    pd.testing.assert_frame_equal(read_assignment(out), expected(day, fleet))


def test_empty_part_files_count_as_no_queries(tmp_path, fleet, day):
    folder = tmp_path / "parts"
    folder.mkdir()
    day.iloc[:1500].to_parquet(folder / "a.parquet", index=False)
    day.iloc[:0].to_parquet(folder / "b.parquet", index=False)
    day.iloc[1500:].to_parquet(folder / "c.parquet", index=False)
    out = tmp_path / "out.parquet"
    solve_dask(folder, str(fleet), 0.5, out, scheduler="synchronous")
    pd.testing.assert_frame_equal(read_assignment(out), expected(day, fleet))
    assert oct(out.stat().st_mode & 0o777) != oct(0o700)


def test_output_may_not_replace_a_cost_table_the_fleet_file_names(tmp_path, day):
    import shutil

    root = Path(__file__).resolve().parents[1]
    shutil.copy(root / "offline_sched" / "data" / "coefficients.csv", tmp_path / "coef.csv")
    text = (root / "examples" / "hybrid-day.toml").read_text().replace(
        "../offline_sched/data/coefficients.csv", "coef.csv")
    (tmp_path / "f.toml").write_text(text)
    before = (tmp_path / "coef.csv").read_bytes()
    src = write_parts(day, tmp_path / "parts", 2)
    with pytest.raises(InputError, match="is also an input"):
        solve_dask(src, str(tmp_path / "f.toml"), 0.5, tmp_path / "coef.csv",
                   scheduler="synchronous")
    assert (tmp_path / "coef.csv").read_bytes() == before

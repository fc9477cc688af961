"""Issue 10, API items: fit's default form and fallback, fleet validation, the full-flow
example, the compare report's reference feasibility, and the λ list's own errors."""

import math
import subprocess
import sys
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import REPO

from offline_sched import InputError, compare, fit, load_systems, load_workload
from offline_sched.cli.main import cli
from offline_sched.costs.fit import coefficients_frame, load_cost_models
from offline_sched.fleet import Fleet
from offline_sched.studies.lam_sweep import parse_lams

# ------------------------------------------------------------------ fit: default form, fallback


def _table(inputs, outputs, repeats=1, seed=0):
    rng = np.random.default_rng(seed)
    i, o = np.meshgrid(inputs, outputs)
    i, o = np.repeat(i.ravel(), repeats), np.repeat(o.ravel(), repeats)
    noise = 1 + 0.01 * rng.standard_normal(i.size)
    return pd.DataFrame({"model": "m", "system": "s", "input_tokens": i, "output_tokens": o,
                         "runtime_s": (0.2 + 0.01 * i + 0.08 * o + 1e-4 * i * o) * noise,
                         "energy_j": (5.0 + 3.0 * i + 30.0 * o + 0.04 * i * o) * noise})


def test_fit_defaults_to_the_cli_default_form():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a table large enough: no fallback, no warning
        (cm,) = fit(_table([8, 16, 32, 64, 128, 256], [8, 16, 32, 64, 128])).values()
    assert cm.runtime.form == "default" and cm.energy.form == "default"
    default = cli.commands["fit"].params
    assert next(p for p in default if p.name == "form").default == cm.runtime.form


@pytest.mark.parametrize("form", [None, "default"])
def test_fit_on_a_tiny_grid_falls_back_and_says_so(form):
    table = _table([8, 64], [4, 32], repeats=3)  # a 2 x 2 grid with repeats (12 rows)
    kwargs = {} if form is None else {"form": form}
    with pytest.warns(UserWarning, match=r"m/s: 4 distinct .* too few for form 'default'.*"
                                         r"fitted form 'paper' instead"):
        (cm,) = fit(table, cv_folds=9, **kwargs).values()
    assert cm.runtime.form == "paper" and cm.energy.form == "paper"
    assert cm.runtime.stats.n == 12
    assert np.all(cm.runtime_s(np.array([8, 64]), np.array([4, 32])) > 0)


def test_fit_cli_on_a_tiny_grid_succeeds(tmp_path):
    path = tmp_path / "t.csv"
    _table([8, 64], [4, 32], repeats=2).to_csv(path, index=False)
    out = tmp_path / "c.csv"
    res = CliRunner().invoke(cli, ["fit", str(path), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert set(pd.read_csv(out)["form"]) == {"paper"}


def test_fit_cv0_output_is_a_fleet_cost_model(tmp_path):
    table = tmp_path / "t.csv"
    _table([8, 16, 32, 64, 128, 256], [8, 16, 32, 64, 128]).to_csv(table, index=False)
    coef = tmp_path / "c.csv"
    res = CliRunner().invoke(cli, ["fit", str(table), "--cv", "0", "--out", str(coef)])
    assert res.exit_code == 0, res.output
    assert pd.read_csv(coef)["cv_mape"].isna().all()
    fleet = tmp_path / "f.toml"
    fleet.write_text('[[system]]\nname = "x"\nmodel = "m"\ncost_model = "c.csv"\n'
                     'cost_system = "s"\n')
    (sys_,) = load_systems(fleet)
    (direct,) = fit(table).values()
    assert sys_.cost.runtime.form == "default"
    assert math.isnan(sys_.cost.runtime.stats.cv_mape)
    x = np.array([10, 200]), np.array([7, 100])
    np.testing.assert_allclose(sys_.cost.runtime_s(*x), direct.runtime_s(*x))
    np.testing.assert_allclose(sys_.cost.energy_j(*x), direct.energy_j(*x))


def test_coefficients_with_both_forms_prefer_default_unless_named(tmp_path):
    table = _table([8, 16, 32, 64, 128, 256], [8, 16, 32, 64, 128])
    path = tmp_path / "both.csv"
    pd.concat([coefficients_frame(fit(table, form="paper")),
               coefficients_frame(fit(table, form="default"))]).to_csv(path, index=False)
    assert load_cost_models(path)["m", "s"].runtime.form == "default"
    assert load_cost_models(path, form="paper")["m", "s"].runtime.form == "paper"


# ------------------------------------------------------------------ fleet validation


@pytest.fixture(scope="module")
def hybrid():
    return load_systems("hybrid")


def _bad_runtime(s, **change):
    return replace(s, cost=replace(s.cost, runtime=replace(s.cost.runtime, **change)))


BAD_SYSTEMS = {
    "negative instances": (lambda s: replace(s, instances=-1), "instances, value -1"),
    "fractional instances": (lambda s: replace(s, instances=2.5), "instances, value 2.5"),
    "NaN window": (lambda s: replace(s, window_s=float("nan")), "window_s, value nan"),
    "zero window": (lambda s: replace(s, window_s=0.0), "window_s, value 0.0"),
    "NaN coefficient": (lambda s: _bad_runtime(s, coef={"out": float("nan")}),
                        "runtime.out, value nan"),
    "inf intercept": (lambda s: _bad_runtime(s, intercept=float("inf")),
                      "runtime.const, value inf"),
    "share > 1": (lambda s: replace(s, max_share=1.5), "max_share, value 1.5"),
    "negative share": (lambda s: replace(s, min_share=-0.1), "min_share, value -0.1"),
    "min > max share": (lambda s: replace(s, min_share=0.6, max_share=0.5),
                        "min_share 0.6 > max_share 0.5"),
    "accuracy > 1": (lambda s: replace(s, accuracy=50.97), "accuracy, value 50.97"),
    "zero token limit": (lambda s: replace(s, max_output_tokens=0),
                         "max_output_tokens, value 0"),
    "empty name": (lambda s: replace(s, name=""), "name, value ''"),
}


@pytest.mark.parametrize("case", sorted(BAD_SYSTEMS))
def test_api_fleets_are_validated_like_toml(hybrid, case):
    change, fragment = BAD_SYSTEMS[case]
    bad = change(hybrid[0])
    with pytest.raises(InputError, match=r"^systems: .*" + fragment.replace(".", r"\.")
                       .replace("(", r"\(")):
        load_systems([bad, hybrid[1]])
    with pytest.raises(InputError, match=fragment.replace(".", r"\.")):
        load_systems(replace(hybrid, systems=(bad, hybrid[1])))


def test_api_fleet_level_checks(hybrid):
    with pytest.raises(InputError, match="duplicate system name"):
        load_systems([hybrid[0], hybrid[0]])
    with pytest.raises(InputError, match="objective, value 'bogus'"):
        load_systems(replace(hybrid, objective="bogus"))
    with pytest.raises(InputError, match="min_share values sum to 1.2"):
        load_systems([replace(hybrid[0], min_share=0.6), replace(hybrid[1], min_share=0.6)])
    no_acc = Fleet(systems=(replace(hybrid[0], accuracy=None), hybrid[1]),
                   objective="energy-accuracy")
    with pytest.raises(InputError, match="needs 'accuracy' on every system"):
        load_systems(no_acc)
    with pytest.raises(InputError, match="no systems"):
        load_systems(replace(hybrid, systems=()))
    assert load_systems(hybrid) is hybrid  # a valid fleet passes unchanged


def test_api_solve_refuses_a_bad_fleet_with_input_error(hybrid):
    from offline_sched import solve

    with pytest.raises(InputError, match="instances, value -3"):
        solve(REPO / "examples" / "day.csv", [replace(hybrid[0], instances=-3), hybrid[1]])


@pytest.mark.parametrize("value", [None, 3, b"hybrid", {"name": "x"}])
def test_load_systems_of_a_non_fleet_is_an_input_error(value):
    with pytest.raises(InputError, match="systems: expected a bundled fleet name"):
        load_systems(value)


@pytest.mark.parametrize("cols", [["input_tokens", "output_tokens", "input_tokens"],
                                  ["input_tokens", "output_tokens", "query_id", "query_id"]])
def test_workload_frame_with_duplicate_columns_is_an_input_error(cols):
    frame = pd.DataFrame([[1, 2, 3, 4][:len(cols)]], columns=cols)
    with pytest.raises(InputError, match="appears more than once"):
        load_workload(frame)


def test_toml_and_api_share_one_validation(tmp_path, hybrid):
    path = tmp_path / "f.toml"
    path.write_text('[[system]]\nname = "a"\nmodel = "m"\nmin_share = 0.7\n'
                    'runtime = { out = 1.0 }\n'
                    '[[system]]\nname = "b"\nmodel = "m"\nmin_share = 0.7\n'
                    'runtime = { out = 1.0 }\n')
    with pytest.raises(InputError) as from_toml:
        load_systems(path)
    with pytest.raises(InputError) as from_api:
        load_systems([replace(hybrid[0], min_share=0.7), replace(hybrid[1], min_share=0.7)])
    assert str(from_toml.value).split(": ", 1)[1] == str(from_api.value).split(": ", 1)[1]


# ------------------------------------------------------------------ examples/full_flow.py


@pytest.mark.slow
def test_full_flow_runs_with_its_documented_defaults(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "examples" / "full_flow.py"),
                           "--out-dir", str(tmp_path / "flow")],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "milp: feasible=True" in proc.stdout
    report = pd.read_csv(tmp_path / "flow" / "report.csv").set_index("policy")
    assert report.loc["milp", "feasible"]


# ------------------------------------------------------------------ compare: reference_feasible


def test_report_says_whether_the_all_gpu_reference_is_feasible(workload_file, fleet_file):
    report = compare(workload_file, fleet_file, lam=0.5)
    assert "reference_feasible" in report.columns
    ref = report.set_index("policy").loc["all-gpu", "feasible"]
    assert (report["reference_feasible"] == ref).all()


def test_report_flags_an_infeasible_all_gpu_reference():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = compare(REPO / "examples" / "day.csv", "hybrid", lam=0.5,
                         policies=["milp", "all-gpu"])
    by = report.set_index("policy")
    assert not by.loc["all-gpu", "feasible"] and by.loc["milp", "feasible"]
    assert (report["reference_feasible"] == False).all()  # noqa: E712
    assert by.loc["milp", "energy_saving_vs_all_gpu_pct"] < 0


def test_report_without_an_all_gpu_row_has_no_reference(workload_file, fleet_file):
    report = compare(workload_file, fleet_file, lam=0.5, policies=["milp", "greedy"])
    assert report["reference_feasible"].isna().all()
    assert report["energy_saving_vs_all_gpu_pct"].isna().all()


def test_readme_report_columns_mention_reference_feasible():
    text = (REPO / "README.md").read_text()
    section = text.split("## Report columns", 1)[1].split("\n\n", 2)[1]
    assert "reference_feasible" in section


# ------------------------------------------------------------------ sweep --lam


def test_too_many_lams_has_its_own_message():
    with pytest.raises(InputError, match=r"too many values \(1,000,000,000"):
        parse_lams("0:1:1e-9")
    assert len(parse_lams("0:1:0.0001")) == 10_001
    with pytest.raises(InputError, match="expected start:stop:step"):
        parse_lams("0:inf:0.1")


def test_sweep_cli_shows_the_too_many_values_error(workload_file):
    res = CliRunner().invoke(cli, ["sweep", str(workload_file), "--lam", "0:1:1e-9"])
    assert res.exit_code == 2
    assert "too many values" in res.output

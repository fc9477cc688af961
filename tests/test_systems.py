import pytest

from offline_sched import InputError, load_systems
from offline_sched.fleet import bundled_fleets


def test_fleet_file_loads(fleet_file):
    fleet = load_systems(fleet_file)
    assert fleet.names == ["small", "gpu"]
    small, gpu = fleet
    assert small.capacity_s == 4 * 3600 and gpu.gpu and not small.gpu
    assert small.max_output_tokens == 512
    assert gpu.cost.runtime_s(10, 10) == pytest.approx(0.01 + 0.8 + 0.01 + 0.1)
    assert list(small.eligible([1, 1], [512, 513])) == [True, False]


def test_bundled_fleets_load_from_anywhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    names = bundled_fleets()
    assert {"hybrid", "multi-llm"} <= set(names)
    hybrid = load_systems("hybrid")
    assert [s.name for s in hybrid] == ["m1-pro", "a100"]
    assert [s.gpu for s in hybrid] == [False, True]
    multi = load_systems("multi-llm")
    assert multi.objective == "energy-accuracy"
    assert [s.max_share for s in multi] == pytest.approx([0.05, 0.2, 0.75])
    assert [s.accuracy for s in multi] == pytest.approx([0.5097, 0.5569, 0.6452])


BASE = """
[[system]]
name = "a"
model = "m"
runtime = { out = 1.0 }
"""


@pytest.mark.parametrize("text, fragment", [
    (BASE.replace('name = "a"', 'name = "a"\ninstances = -2'), "instances, value -2"),
    ("window_s = -5\n" + BASE, "window_s, value -5"),
    ('objective = "speed"\n' + BASE, "objective, value 'speed'"),
    (BASE + BASE, "duplicate system name"),
    (BASE.replace("runtime = { out = 1.0 }", ""), "needs 'runtime' coefficients"),
    (BASE.replace("out = 1.0", "out = 'x'"), "runtime.out, value 'x'"),
    (BASE + "colour = 1\n", "unknown key(s) ['colour']"),
    ("", "file is empty"),
    ("[[system]\n", "not valid TOML"),
])
def test_bad_fleet_files(tmp_path, text, fragment):
    path = tmp_path / "f.toml"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        load_systems(path)
    assert str(err.value).startswith(str(path))
    assert fragment in str(err.value)


def test_unknown_fleet_name():
    with pytest.raises(InputError, match="unknown fleet 'nope'"):
        load_systems("nope")


def test_cost_model_from_a_measurement_table(tmp_path):
    table = tmp_path / "t.csv"
    rows = ["model,system,input_tokens,output_tokens,runtime_s,energy_j"]
    for i in (8, 16, 32, 64):
        for o in (8, 32, 128):
            rows.append(f"m,box,{i},{o},{0.01 * i + 0.1 * o + 0.001 * i * o},"
                        f"{2 * i + 5 * o + 0.1 * i * o}")
    table.write_text("\n".join(rows) + "\n")
    fleet_toml = tmp_path / "f.toml"
    fleet_toml.write_text('[[system]]\nname = "x"\nmodel = "m"\ncost_model = "t.csv"\n'
                          'cost_system = "box"\n')
    (sys_,) = load_systems(fleet_toml)
    assert sys_.cost.energy_j(10, 10) == pytest.approx(20 + 50 + 10)
    assert sys_.cost.runtime.input_range == (8, 64)


def test_min_shares_above_one_are_refused(tmp_path):
    path = tmp_path / "f.toml"
    path.write_text(BASE.replace('name = "a"', 'name = "a"\nmin_share = 0.7') +
                    BASE.replace('name = "a"', 'name = "b"\nmin_share = 0.7'))
    with pytest.raises(InputError, match="min_share values sum to 1.4"):
        load_systems(path)

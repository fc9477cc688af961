import numpy as np
import pandas as pd
import pytest

from offline_sched import InputError, load_workload
from offline_sched.workload import Workload


def test_csv_with_ids_keeps_order_and_types(workload_file):
    wl = load_workload(workload_file)
    raw = pd.read_csv(workload_file)
    assert len(wl) == len(raw)
    assert list(wl.ids[:3]) == ["job-0", "job-1", "job-2"]
    assert wl.input_tokens.dtype == np.int64
    np.testing.assert_array_equal(wl.output_tokens, raw.output_tokens.to_numpy())


def test_generated_ids_and_other_formats(tmp_path):
    frame = pd.DataFrame({"input_tokens": [5, 6, 5], "output_tokens": [1, 2, 1]})
    for name, writer in [("w.parquet", lambda p: frame.to_parquet(p)),
                         ("w.jsonl", lambda p: frame.to_json(p, orient="records", lines=True))]:
        path = tmp_path / name
        writer(path)
        wl = load_workload(path)
        assert list(wl.ids) == ["q0", "q1", "q2"]
        assert list(wl.input_tokens) == [5, 6, 5]
    assert isinstance(load_workload(frame), Workload)


def test_classes_group_identical_queries():
    wl = load_workload(pd.DataFrame({"input_tokens": [5, 6, 5, 7, 6],
                                     "output_tokens": [1, 2, 1, 1, 3]}))
    c = wl.classes()
    assert c.n_classes == 4
    assert c.count.sum() == 5
    # each query's class has its own token counts
    np.testing.assert_array_equal(c.input_tokens[c.query_class], wl.input_tokens)
    np.testing.assert_array_equal(c.output_tokens[c.query_class], wl.output_tokens)
    assert c.count[c.query_class[0]] == 2


@pytest.mark.parametrize("content, fragment", [
    ("input_tokens,output_tokens\n5,3\n4,abc\n", "row 2, column 'output_tokens', value 'abc'"),
    ("input_tokens,output_tokens\n5,3\n0,3\n", "row 2, column 'input_tokens', value '0'"),
    ("input_tokens,output_tokens\n5,3.5\n", "row 1, column 'output_tokens', value '3.5'"),
    ("input_tokens,output_tokens\n5,3\n-4,2\n", "value '-4'"),
    ("input_tokens,output_tokens\n5,\n", "row 1, column 'output_tokens'"),
    ("input_tokens\n5\n", "missing column 'output_tokens'"),
    ("query_id,input_tokens,output_tokens\na,1,1\nb,2,2\na,3,3\n",
     "row 3, column 'query_id', value 'a': duplicate query id (first seen in row 1)"),
    ("", "file is empty"),
    ("input_tokens,output_tokens\n", "no data rows"),
])
def test_bad_workloads_name_file_row_column_value(tmp_path, content, fragment):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(InputError) as err:
        load_workload(path)
    msg = str(err.value)
    assert msg.startswith(str(path)), msg
    assert fragment in msg
    assert "\n" not in msg


def test_binary_and_unknown_files(tmp_path):
    path = tmp_path / "bin.csv"
    path.write_bytes(b"\x00\x01\x02binary")
    with pytest.raises(InputError, match="binary"):
        load_workload(path)
    (tmp_path / "x.xlsx").write_text("a")
    with pytest.raises(InputError, match="unknown file type"):
        load_workload(tmp_path / "x.xlsx")
    with pytest.raises(InputError, match="no such file"):
        load_workload(tmp_path / "missing.csv")


def test_ids_kept_verbatim_booleans_and_duplicate_headers_refused(tmp_path):
    path = tmp_path / "ids.csv"
    path.write_text("query_id,input_tokens,output_tokens\n007,3,4\n7,5,6\n")
    assert list(load_workload(path).ids) == ["007", "7"]
    path.write_text("input_tokens,output_tokens\ntrue,3\n")
    with pytest.raises(InputError, match="not a boolean"):
        load_workload(path)
    path.write_text("input_tokens,output_tokens,input_tokens\n1,2,3\n")
    with pytest.raises(InputError, match="appears more than once"):
        load_workload(path)

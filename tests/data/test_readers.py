"""Tests of read_table / read_labels: every format, orientation and error case."""

from __future__ import annotations

import gzip
import warnings

import anndata
import mudata
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp

from biozoo.data.table import read as readers
from biozoo.data.table.read import read_labels, read_table, resolve_format


def assert_same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert got.index.name == "sample_id"
    assert list(got.index) == [str(i) for i in expected.index]
    assert list(got.columns) == [str(c) for c in expected.columns]
    assert (got.dtypes == np.float32).all()
    np.testing.assert_array_equal(got.to_numpy(), expected.to_numpy(dtype=np.float32))


# ---------------------------------------------------------------- formats


@pytest.fixture(params=["by_columns", "by_rows"])
def csv_mode(request, monkeypatch):
    """Run a CSV test through pandas' column parser and through the wide-table row parser."""
    if request.param == "by_rows":
        monkeypatch.setattr(readers, "_WIDE", 0)
    return request.param


@pytest.mark.parametrize(
    ("name", "sep", "compression"),
    [
        ("t.csv", ",", None),
        ("t.tsv", "\t", None),
        ("t.txt", "\t", None),
        ("t.csv.gz", ",", "gzip"),
        ("t.tsv.gz", "\t", "gzip"),
    ],
)
def test_delimited_formats(tmp_path, small_table, csv_mode, name, sep, compression):
    path = tmp_path / name
    small_table.to_csv(path, sep=sep, compression=compression)
    assert_same(read_table(path), small_table)


def test_csv_int_ids_become_str_and_na_is_nan(write_text, csv_mode):
    path = write_text("t.csv", 'id,a,b\n1,1,NA\n2,,3\n"3",4,\n4,"5",6\n\n')
    table = read_table(path)
    assert list(table.index) == ["1", "2", "3", "4"]
    assert np.isnan(table.loc["1", "b"]) and np.isnan(table.loc["2", "a"])
    assert np.isnan(table.loc["3", "b"]) and table.loc["4", "a"] == 5


def test_csv_id_column_not_first(write_text, csv_mode):
    path = write_text("t.csv", "a,patient,b\n1,p1,2\n3,p2,4\n")
    table = read_table(path, id_column="patient")
    assert list(table.index) == ["p1", "p2"] and list(table.columns) == ["a", "b"]
    assert table.loc["p2", "b"] == 4


def test_csv_blank_first_header(write_text, csv_mode):
    path = write_text("t.csv", ",a,b\ns1,1,2\ns2,3,4\n")
    assert list(read_table(path).index) == ["s1", "s2"]


def test_transposed_csv(tmp_path, small_table, csv_mode):
    path = tmp_path / "meth.csv"
    small_table.T.to_csv(path, index_label="cpg")
    assert_same(read_table(path, transpose=True), small_table)


def test_format_override(tmp_path, small_table):
    path = tmp_path / "table.data"
    small_table.to_csv(path, sep="\t")
    assert_same(read_table(path, format="tsv"), small_table)


def test_parquet_pandas_index_and_plain_column(tmp_path, small_table):
    with_index = tmp_path / "a.parquet"
    small_table.to_parquet(with_index)  # pandas stores the named index last
    assert_same(read_table(with_index), small_table)
    plain = tmp_path / "b.pq"
    small_table.reset_index().to_parquet(plain, index=False)
    assert_same(read_table(plain), small_table)


def test_transposed_parquet_float64_with_nulls(tmp_path, small_table):
    path = tmp_path / "meth.parquet"
    columns = {"cpg": pa.array(list(small_table.columns))}
    for sample, row in small_table.astype(np.float64).iterrows():
        columns[sample] = pa.array(row.to_numpy(), from_pandas=True)  # NaN -> null
    pq.write_table(pa.table(columns), path)
    assert pa.table(columns).column("s1").null_count == 1
    assert_same(read_table(path, transpose=True), small_table)


def test_parquet_many_column_groups(tmp_path, small_table, monkeypatch):
    monkeypatch.setattr(readers, "_GROUP_VALUES", 4)  # one column per group
    path = tmp_path / "t.parquet"
    small_table.to_parquet(path)
    assert_same(read_table(path), small_table)
    small_table.T.to_parquet(tmp_path / "tt.parquet")
    assert_same(read_table(tmp_path / "tt.parquet", transpose=True), small_table)


def test_h5ad_dense_sparse_and_layer(tmp_path, small_table):
    x = np.nan_to_num(small_table.to_numpy())
    adata = anndata.AnnData(
        X=sp.csr_matrix(x),
        obs=pd.DataFrame(index=small_table.index.rename(None)),
        var=pd.DataFrame(index=small_table.columns),
    )
    adata.layers["counts"] = x * 2
    path = tmp_path / "cells.h5ad"
    adata.write_h5ad(path)
    table = read_table(path)
    assert list(table.index) == ["s1", "s2", "s3", "s4"] and list(table.columns) == [
        "f1",
        "f2",
        "f3",
    ]
    assert table.dtypes.iloc[0] == np.float32
    np.testing.assert_array_equal(table.to_numpy(), x)
    np.testing.assert_array_equal(read_table(path, layer="counts").to_numpy(), x * 2)


def test_h5ad_missing_layer(tmp_path, small_table, error_naming):
    path = tmp_path / "cells.h5ad"
    anndata.AnnData(X=np.nan_to_num(small_table.to_numpy())).write_h5ad(path)
    error_naming(lambda: read_table(path, layer="spliced"), "spliced", path)


def _write_h5mu(tmp_path, small_table):
    rna = anndata.AnnData(X=np.nan_to_num(small_table.to_numpy()))
    rna.obs_names = list(small_table.index)
    rna.var_names = list(small_table.columns)
    prot = anndata.AnnData(X=np.ones((3, 2), dtype=np.float32))
    prot.obs_names = ["s1", "s2", "s9"]
    prot.var_names = ["CD3", "CD4"]
    path = tmp_path / "multi.h5mu"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # mudata 0.3's note on .update()
        mudata.MuData({"rna": rna, "prot": prot}).write_h5mu(path)
    return path


def test_h5mu_mod(tmp_path, small_table):
    path = _write_h5mu(tmp_path, small_table)
    prot = read_table(path, mod="prot")
    assert list(prot.index) == ["s1", "s2", "s9"] and list(prot.columns) == ["CD3", "CD4"]
    assert read_table(path, mod="rna").shape == (4, 3)


def test_h5mu_missing_mod_lists_mods(tmp_path, small_table, error_naming):
    path = _write_h5mu(tmp_path, small_table)
    error_naming(lambda: read_table(path, mod="atac"), "atac", "prot", "rna", path)
    error_naming(lambda: read_table(path), "prot", "rna", path)


def test_resolve_format():
    assert resolve_format("x/a.TSV.gz") == "tsv"
    assert resolve_format("a.pq") == "parquet"
    assert resolve_format("a.csv", "parquet") == "parquet"


# ---------------------------------------------------------------- errors


def test_missing_file(tmp_path, error_naming):
    error_naming(lambda: read_table(tmp_path / "nope.csv"), "nope.csv", "does not exist")


def test_unknown_suffix_and_format(write_text, error_naming):
    path = write_text("t.xlsx", "x")
    error_naming(lambda: read_table(path), "t.xlsx", "format")
    error_naming(lambda: read_table(path, format="excel"), "excel", "t.xlsx")


def test_empty_file_and_empty_table(write_text, error_naming):
    error_naming(lambda: read_table(write_text("e.csv", "")), "e.csv", "is empty")
    error_naming(lambda: read_table(write_text("h.csv", "id,a,b\n")), "h.csv", "is empty")
    error_naming(lambda: read_table(write_text("n.csv", "id\ns1\n")), "n.csv", "is empty")


def test_ragged_csv(write_text, error_naming, csv_mode):
    ragged = write_text("r.csv", "id,a\ns1,1\ns2,1,2,3\n")
    error_naming(lambda: read_table(ragged), "r.csv", "line 3")


def test_unparseable_files(tmp_path, write_text, error_naming):
    fake = write_text("f.parquet", "not a parquet file")
    error_naming(lambda: read_table(fake), "f.parquet")
    bad_gz = tmp_path / "b.csv.gz"
    bad_gz.write_bytes(b"\x1f\x8b garbage")
    error_naming(lambda: read_table(bad_gz), "b.csv.gz")
    error_naming(lambda: read_table(write_text("x.h5ad", "nope")), "x.h5ad")


def test_id_column_absent(write_text, error_naming):
    path = write_text("t.csv", "id,a\ns1,1\n")
    error_naming(lambda: read_table(path, id_column="patient"), "patient", "t.csv")


@pytest.mark.parametrize("transpose", [False, True])
def test_non_numeric_csv(write_text, error_naming, csv_mode, transpose):
    path = write_text("t.csv", "id,a,b\ns1,1,2\ns2,3,high\n")
    error_naming(lambda: read_table(path, transpose=transpose), "'b'", "t.csv", "'high'")


def test_non_numeric_parquet(tmp_path, error_naming):
    path = tmp_path / "t.parquet"
    pd.DataFrame({"id": ["s1", "s2"], "a": [1.0, 2.0], "b": ["1.5", "oops"]}).to_parquet(
        path, index=False
    )
    error_naming(lambda: read_table(path), "'b'", "t.parquet", "'oops'")
    numeric_text = tmp_path / "ok.parquet"
    pd.DataFrame({"id": ["s1", "s2"], "b": ["1.5", None]}).to_parquet(numeric_text, index=False)
    assert read_table(numeric_text).loc["s1", "b"] == np.float32(1.5)


def test_all_nan_feature(write_text, tmp_path, error_naming, csv_mode):
    error_naming(
        lambda: read_table(write_text("t.csv", "id,a,b\ns1,1,\ns2,2,NA\n")), "'b'", "t.csv"
    )
    path = tmp_path / "t.parquet"
    pd.DataFrame({"id": ["s1", "s2"], "a": [1.0, 2.0], "b": [None, None]}).to_parquet(path)
    error_naming(lambda: read_table(path), "'b'", "t.parquet")


def test_duplicate_sample_ids(write_text, error_naming, csv_mode):
    path = write_text("t.csv", "id,a\ns1,1\ns2,2\ns1,3\ns1,4\n")
    error_naming(lambda: read_table(path), "'s1'", "3 times", "t.csv")
    transposed = write_text("m.csv", "cpg,s1,s2,s1\ncg1,1,2,3\n")
    error_naming(lambda: read_table(transposed, transpose=True), "'s1'", "2 times", "m.csv")


def test_duplicate_feature_names(write_text, tmp_path, error_naming, csv_mode):
    error_naming(lambda: read_table(write_text("t.csv", "id,a,a\ns1,1,2\n")), "'a'", "t.csv")
    transposed = write_text("m.csv", "cpg,s1\ncg1,1\ncg1,2\n")
    error_naming(lambda: read_table(transposed, transpose=True), "'cg1'", "m.csv")


def test_missing_sample_id(write_text, error_naming, csv_mode):
    error_naming(lambda: read_table(write_text("t.csv", "id,a\ns1,1\n,2\n")), "t.csv")


# ---------------------------------------------------------------- labels


def test_read_labels_types(write_text):
    path = write_text(
        "labels.csv", "sample_id,group,age,flag,score\n1,a,50,True,0.5\n2,b,61,False,\n"
    )
    assert list(read_labels(path, "group")) == ["a", "b"]
    assert read_labels(path, "group").index.tolist() == ["1", "2"]
    assert read_labels(path, "age").tolist() == [50, 61]
    assert read_labels(path, "flag").tolist() == [True, False]
    score = read_labels(path, "score")
    assert score.iloc[0] == 0.5 and np.isnan(score.iloc[1])


def test_read_labels_id_column_tsv_gz(tmp_path):
    path = tmp_path / "labels.tsv.gz"
    with gzip.open(path, "wt") as f:
        f.write("y\tpatient\nx\tp1\nz\tp2\n")
    labels = read_labels(path, "y", id_column="patient")
    assert labels.to_dict() == {"p1": "x", "p2": "z"}


def test_read_labels_parquet(tmp_path):
    path = tmp_path / "labels.parquet"
    pd.DataFrame({"y": [1, 0]}, index=pd.Index(["a", "b"], name="sample_id")).to_parquet(path)
    assert read_labels(path, "y").to_dict() == {"a": 1, "b": 0}


def test_read_labels_h5ad_obs(tmp_path):
    adata = anndata.AnnData(X=np.zeros((3, 2), dtype=np.float32))
    adata.obs_names = ["c1", "c2", "c3"]
    adata.obs["cell_type"] = pd.Categorical(["T", "B", "T"])
    path = tmp_path / "cells.h5ad"
    adata.write_h5ad(path)
    labels = read_labels(path, "cell_type")
    assert labels.to_dict() == {"c1": "T", "c2": "B", "c3": "T"}


def test_read_labels_errors(write_text, error_naming):
    path = write_text("labels.csv", "id,y,z\ns1,a,1\ns2,b,2\n")
    error_naming(lambda: read_labels(path, "status"), "status", "labels.csv", "'y'", "'z'")
    dup = write_text("dup.csv", "id,y\ns1,a\ns1,b\n")
    error_naming(lambda: read_labels(dup, "y"), "'s1'", "dup.csv")
    error_naming(lambda: read_labels(path.with_name("no.csv"), "y"), "no.csv")
    error_naming(lambda: read_labels(path, "y", id_column="pid"), "pid", "labels.csv")


def test_anndata_rejects_table_options(tmp_path, error_naming):
    path = tmp_path / "cells.h5ad"
    anndata.AnnData(X=np.ones((2, 2), dtype=np.float32)).write_h5ad(path)
    error_naming(lambda: read_table(path, transpose=True), "'transpose'", "cells.h5ad")


def test_read_labels_h5mu_obs(tmp_path):
    rna = anndata.AnnData(X=np.ones((3, 2), dtype=np.float32))
    rna.obs_names = ["s1", "s2", "s3"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # mudata 0.3's note on .update()
        mdata = mudata.MuData({"rna": rna})
        mdata.obs["group"] = ["a", "b", "a"]
        mdata.write_h5mu(tmp_path / "m.h5mu")
    labels = read_labels(tmp_path / "m.h5mu", "group")
    assert labels.to_dict() == {"s1": "a", "s2": "b", "s3": "a"}

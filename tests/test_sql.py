"""SQL over the ledger (ledger/_query/_sql.py): the views equal what the Python API says
(to_pandas, history, system, sweeps) on the format's golden corpus, the README's five
questions equal their pandas answers, a query cannot read or write outside the views, and an
S3 root answers the same as a local copy of it."""

from __future__ import annotations

import math
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ledger
from ledger import _format
from ledger._query import _sql
from tests import sql_ledger

GOLDEN = Path(__file__).parent / "data" / "format-v1"
README = Path(__file__).parent.parent / "README.md"


@pytest.fixture
def corpus(tmp_path) -> ledger.Ledger:
    root = tmp_path / "corpus"
    shutil.copytree(GOLDEN, root)
    return ledger.open(str(root))


@pytest.fixture(scope="module")
def questions_ledger(tmp_path_factory) -> ledger.Ledger:
    root = tmp_path_factory.mktemp("sql") / "results"
    sql_ledger.make_ledger(root, runs=30, steps=60)
    return ledger.open(str(root))


def _long_form(run: ledger.RunView, stream: str) -> pd.DataFrame:
    """history()/system() of a run, as the numbers of each key in long form."""
    records = run.records(stream)
    table = run.history() if stream == "metrics" else run.system()
    rows = []
    for key in table.columns:
        if key in _format.RESERVED:
            continue
        for i, rec in enumerate(records):
            value = rec.get(key)
            if isinstance(value, (int, float)):
                step = rec.get("_step")
                rows.append((run.id, i, step if isinstance(step, int) else None, rec.get("_time"), key, float(value)))
    return pd.DataFrame(rows, columns=["run_id", "row", "step", "time", "key", "value"])


def _same_values(got: pd.Series, expected: pd.Series) -> None:
    assert len(got) == len(expected)
    for a, b in zip(got.tolist(), expected.tolist(), strict=True):
        if pd.isna(b):
            assert pd.isna(a), (got.name, a, b)
        else:
            assert a == b, (got.name, a, b)


class TestViewsOnTheGoldenCorpus:
    def test_runs_is_to_pandas_plus_compute_hours(self, corpus):
        got = corpus.sql("SELECT * FROM runs ORDER BY created, id")
        expected = corpus.runs().to_pandas()
        assert list(got.columns) == [*expected.columns, "hours", "gpu_hours"]
        for column in expected.columns:
            if expected[column].dtype == object:  # lists and mixed values: as DuckDB holds them
                continue
            _same_values(got[column], expected[column])
        compute = corpus.runs().compute_hours(by="id")
        assert got["gpu_hours"].round(6).tolist() == compute.set_index("id").loc[got["id"], "gpu_hours"].tolist()
        assert list(got["tags"].tolist()[0]) == ["baseline", "seed=1"]  # a list of text stays a list

    @pytest.mark.parametrize("stream", ["metrics", "system"])
    def test_long_forms_are_the_histories_numbers(self, corpus, stream):
        got = corpus.sql(f"SELECT * FROM {stream} ORDER BY run_id, key, row")
        expected = pd.concat([_long_form(r, stream) for r in corpus.runs()], ignore_index=True)
        expected = expected.sort_values(["run_id", "key", "row"], ignore_index=True)
        assert len(got) == len(expected) > 0
        for column in ("run_id", "row", "key"):
            assert got[column].tolist() == expected[column].tolist()
        np.testing.assert_array_equal(
            got["value"].to_numpy(), expected["value"].to_numpy(dtype=float)
        )  # NaN, inf, -0.0, 5e-324
        assert (
            np.signbit(got["value"].to_numpy()).tolist() == np.signbit(expected["value"].to_numpy(dtype=float)).tolist()
        )
        assert got["step"].tolist() == expected["step"].tolist()
        np.testing.assert_array_equal(got["time"].to_numpy(), expected["time"].to_numpy(dtype=float))

    def test_metrics_wide_is_the_history_table(self, corpus):
        got = corpus.sql("SELECT * FROM metrics_wide ORDER BY run_id, row")
        for run in corpus.runs():
            mine = got[got["run_id"] == run.id].reset_index(drop=True)
            history = run.history()
            if history.empty:
                assert mine.empty
                continue
            assert mine["row"].tolist() == list(range(len(history)))
            for key in history.columns:
                if key in _format.RESERVED:
                    continue
                numbers = [float(v) if isinstance(v, (int, float)) else math.nan for v in history[key].tolist()]
                if key not in mine.columns:  # a key that never held a number (media) has no column
                    assert all(math.isnan(v) for v in numbers)
                    continue
                np.testing.assert_array_equal(mine[key].to_numpy(dtype=float), np.asarray(numbers, dtype=float))

    def test_sweeps(self, corpus):
        got = corpus.sql("SELECT * FROM sweeps")
        sweeps = corpus.sweeps()
        assert got["id"].tolist() == [s.id for s in sweeps]
        assert got["runs"].tolist() == [len(s.runs) for s in sweeps]
        assert got["metric"].tolist() == [s.metric[0] if s.metric else None for s in sweeps]
        assert got["method"].tolist() == [s.config.get("method") for s in sweeps]


@pytest.mark.parametrize("question", sql_ledger.QUESTIONS)
def test_the_readme_questions_match_pandas(questions_ledger, question):
    """The README's SQL, executed as printed, against the same answer computed with pandas."""
    queries = sql_ledger.readme_queries(README)
    assert set(queries) == set(sql_ledger.QUESTIONS)
    got = questions_ledger.sql(queries[question])
    expected = sql_ledger.PANDAS[question](questions_ledger)
    assert len(expected) > 0
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


class TestReadOnly:
    @pytest.mark.parametrize(
        "query",
        [
            "COPY (SELECT * FROM runs) TO '{out}'",
            "ATTACH '{out}' AS other",
            "SELECT * FROM read_csv('{secret}')",
            "SELECT * FROM read_text('{secret}')",
            "SELECT * FROM glob('{folder}/*')",
            "INSTALL httpfs",
            "LOAD httpfs",
            "SET enable_external_access = true",
            "EXPORT DATABASE '{folder}/dump'",
        ],
    )
    def test_a_query_cannot_reach_files(self, corpus, tmp_path, query):
        secret = tmp_path / "secret.csv"
        secret.write_text("password\nhunter2\n")
        out = tmp_path / "out.csv"
        with pytest.raises(ledger.SqlError, match=r"sql: .*(Permission|disabled|lock|Cannot)"):
            corpus.sql(query.format(out=out, secret=secret, folder=tmp_path))
        assert not out.exists()
        assert not (tmp_path / "dump").exists()

    def test_python_variables_are_not_tables(self, corpus):
        secret_frame = pd.DataFrame({"x": [1]})  # noqa: F841 (DuckDB would find it by name)
        with pytest.raises(ledger.SqlError, match="secret_frame"):
            corpus.sql("SELECT * FROM secret_frame")

    def test_tables_made_by_a_query_live_only_in_it(self, corpus):
        corpus.sql("CREATE TABLE scratch AS SELECT 1 AS x")
        with pytest.raises(ledger.SqlError, match="scratch"):
            corpus.sql("SELECT * FROM scratch")
        assert not list(Path(corpus.root).rglob("*.duckdb"))

    def test_bad_sql_says_where(self, corpus):
        with pytest.raises(ledger.SqlError, match="syntax error"):
            corpus.sql("SELEC * FROM runs")
        with pytest.raises(ledger.SqlError, match="sql needs a query"):
            corpus.sql("  ")


def test_without_duckdb_the_error_says_what_to_install(corpus, monkeypatch):
    monkeypatch.setitem(sys.modules, "duckdb", None)  # what `import duckdb` does when it is not installed
    with pytest.raises(ImportError, match=r"pip install 'experiment-ledger\[sql\]'"):
        corpus.sql("SELECT 1")


def test_the_cli_prints_like_the_other_commands(corpus, ledger_cli):
    code, out, _err = ledger_cli(
        "sql", "SELECT id, status FROM runs ORDER BY id", "--root", corpus.root, "--format", "csv"
    )
    assert code == 0
    assert out.splitlines() == ["id,status", *[f"{r.id},{r.status}" for r in sorted(corpus.runs(), key=lambda r: r.id)]]
    code, out, _err = ledger_cli("sql", "SELECT value FROM metrics WHERE key = 'loss'", "--root", corpus.root,
                                 "--format", "json")  # fmt: skip
    assert code == 0
    assert '"NaN"' in out  # NaN stays NaN, not null
    assert '"Infinity"' in out
    code, _out, err = ledger_cli("sql", "SELEC 1", "--root", corpus.root)
    assert code == 1
    assert "syntax error" in err


def test_named_views_are_the_only_ones_built(corpus, monkeypatch):
    built = []
    for name, builder in list(_sql._BUILDERS.items()):
        monkeypatch.setitem(
            _sql._BUILDERS, name, lambda runs, sweeps, b=builder, n=name: built.append(n) or b(runs, sweeps)
        )
    corpus.sql("SELECT count(*) FROM runs")
    assert built == ["runs"]


def test_an_s3_root_answers_as_its_local_copy(s3_root, tmp_path):
    """A real S3 server (SeaweedFS): runs written there (segments), queried through fsspec and
    the history cache in the bucket; the same runs copied to a folder answer the same."""
    for i in range(3):
        with ledger.init("p", root=s3_root, config={"lr": 10.0**-i}, capture_output=False, system_metrics=False) as run:
            for s in range(5):
                run.log({"loss": 1 / (s + 1 + i), "acc": s / 5})
    query = 'SELECT r."config.lr" AS lr, m.key, count(*) AS n, sum(m.value) AS total FROM metrics m JOIN runs r ON r.id = m.run_id GROUP BY ALL ORDER BY lr, key'
    remote = ledger.open(s3_root).sql(query)
    assert len(remote) == 6
    assert remote["n"].tolist() == [5] * 6
    from ledger._storage import open_storage

    storage = open_storage(s3_root)
    local = tmp_path / "copy"
    for rel in storage.files_under(""):
        if rel.startswith(_format.CACHE_DIR):
            continue
        (local / rel).parent.mkdir(parents=True, exist_ok=True)
        (local / rel).write_bytes(storage.read_bytes(rel))
    pd.testing.assert_frame_equal(ledger.open(str(local)).sql(query), remote)
    assert any(rel.startswith(f"{_format.CACHE_DIR}/history/") for rel in storage.files_under(""))

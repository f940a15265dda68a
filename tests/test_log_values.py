"""What run.log accepts, how it is stored, and how it reads back."""

from __future__ import annotations

import math

import numpy as np
import pytest

import ledger
from tests.helpers import history, quiet_init


def _roundtrip(tmp_dir, records: list[dict]) -> list[dict]:
    run = quiet_init("p", root="results")
    for rec in records:
        run.log(rec)
    run.finish()
    return history(tmp_dir / "results", "p", run.id)


class TestRoundTrip:
    def test_every_value_kind_reads_back_exactly(self, tmp_dir):
        big = 2**70 + 1
        got = _roundtrip(
            tmp_dir,
            [
                {
                    "nan": math.nan,
                    "inf": math.inf,
                    "ninf": -math.inf,
                    "negzero": -0.0,
                    "big": big,
                    "negbig": -big,
                    "flag": True,
                    "small": 5e-324,
                    "pi": math.pi,
                    "日本語/キー": 1.5,
                    "emoji 🚀": 2,
                    "np_f32": np.float32(0.25),
                    "np_i64": np.int64(-7),
                    "np_bool": np.bool_(False),
                    "np_0d": np.array(3.5),
                    "nested": {"a": 1, "deeper": {"b": 2.5}},
                }
            ],
        )
        (rec,) = got
        assert math.isnan(rec["nan"])
        assert rec["inf"] == math.inf
        assert rec["ninf"] == -math.inf
        assert rec["negzero"] == 0.0
        assert math.copysign(1.0, rec["negzero"]) == -1.0
        assert rec["big"] == big
        assert type(rec["big"]) is int
        assert rec["negbig"] == -big
        assert rec["flag"] is True
        assert rec["small"] == 5e-324
        assert rec["pi"] == math.pi
        assert rec["日本語/キー"] == 1.5
        assert rec["emoji 🚀"] == 2
        assert rec["np_f32"] == 0.25
        assert type(rec["np_i64"]) is int
        assert rec["np_i64"] == -7
        assert rec["np_bool"] is False
        assert rec["np_0d"] == 3.5
        assert rec["nested/a"] == 1
        assert rec["nested/deeper/b"] == 2.5
        assert rec["_step"] == 0
        assert isinstance(rec["_time"], float)

    def test_a_key_containing_null_is_not_mangled(self, tmp_dir):
        (rec,) = _roundtrip(tmp_dir, [{"nullity": 1.0, "null": 2.0}])
        assert rec["nullity"] == 1.0
        assert rec["null"] == 2.0

    def test_nonfinite_values_are_written_as_strings_not_null(self, tmp_dir):
        run = quiet_init("p", root="results")
        run.log({"loss": math.nan, "up": math.inf, "down": -math.inf})
        run.finish()
        text = (tmp_dir / "results" / "p" / "runs" / run.id / "metrics.jsonl").read_text()
        assert '"loss":"NaN"' in text
        assert '"up":"Infinity"' in text
        assert '"down":"-Infinity"' in text
        assert "null" not in text

    def test_many_records_keep_their_order_and_steps(self, tmp_dir):
        got = _roundtrip(tmp_dir, [{"x": float(i)} for i in range(5000)])
        assert [r["_step"] for r in got] == list(range(5000))
        assert [r["x"] for r in got] == [float(i) for i in range(5000)]


class TestRejectedValues:
    @pytest.mark.parametrize(
        ("value", "type_name"),
        [("0.5", "str"), ([1, 2], "list"), (None, "NoneType"), (1 + 2j, "complex"), (np.array([1.0, 2.0]), "ndarray")],
    )
    def test_non_numbers_raise_type_error_naming_key_and_type(self, tmp_dir, value, type_name):
        run = quiet_init("p", root="results")
        with pytest.raises(TypeError, match=rf"'bad'.*{type_name}"):
            run.log({"ok": 1.0, "bad": value})
        run.finish()

    def test_nested_bad_value_names_the_flattened_key(self, tmp_dir):
        run = quiet_init("p", root="results")
        with pytest.raises(TypeError, match="'train/acc' is a str"):
            run.log({"train": {"acc": "high"}})
        run.finish()

    def test_rejected_call_writes_nothing(self, tmp_dir):
        run = quiet_init("p", root="results")
        run.log({"a": 1})
        with pytest.raises(TypeError):
            run.log({"a": 2, "b": "x"})
        run.log({"a": 3})
        run.finish()
        got = history(tmp_dir / "results", "p", run.id)
        assert [(r["_step"], r["a"]) for r in got] == [(0, 1), (1, 3)]

    @pytest.mark.parametrize("key", ["_step", "_time"])
    def test_reserved_keys_raise(self, tmp_dir, key):
        run = quiet_init("p", root="results")
        with pytest.raises(ValueError, match=f"'{key}' is reserved"):
            run.log({key: 1})
        run.finish()

    @pytest.mark.parametrize(
        "data",
        [{"a/b": 1, "a": {"b": 2}}, {"a": {"b": 2}, "a/b": 1}, {"x": {"y/z": 1}, "x/y": {"z": 2}}],
        ids=["flat-first", "nested-first", "both-nested"],
    )
    def test_one_name_given_twice_in_a_call_is_an_error_naming_both(self, tmp_dir, data):
        run = quiet_init("p", root="results")
        run.log({"a/b": 0, "x/y/z": 0})  # the names are known: the flat one takes the fast path
        with pytest.raises(ValueError, match=r"is given twice in one call, as \[.+\] and as \[.+\]") as e:
            run.log(data)
        flat = "a/b" if "a/b" in str(e.value) else "x/y/z"
        assert f"'{flat}' is given twice" in str(e.value)
        run.log({"a/b": 3})
        run.finish()
        assert [r.get("a/b") for r in history(tmp_dir / "results", "p", run.id)] == [0, 3]  # nothing logged

    @pytest.mark.parametrize("key", ["", 3, None])
    def test_bad_keys_raise(self, tmp_dir, key):
        run = quiet_init("p", root="results")
        with pytest.raises(TypeError, match="metric names must be non-empty strings"):
            run.log({key: 1.0})
        run.finish()


class TestSteps:
    def test_default_steps_count_from_zero(self, tmp_dir):
        got = _roundtrip(tmp_dir, [{"a": 1}, {"a": 2}, {"a": 3}])
        assert [r["_step"] for r in got] == [0, 1, 2]

    def test_explicit_steps_may_repeat_and_skip_and_default_continues(self, tmp_dir):
        run = quiet_init("p", root="results")
        run.log({"train": 1.0}, step=10)
        run.log({"val": 2.0}, step=10)
        run.log({"train": 3.0}, step=15)
        run.log({"train": 4.0})
        run.finish()
        got = history(tmp_dir / "results", "p", run.id)
        assert [r["_step"] for r in got] == [10, 10, 15, 16]

    def test_decreasing_step_raises_with_both_numbers(self, tmp_dir):
        run = quiet_init("p", root="results")
        run.log({"a": 1}, step=7)
        with pytest.raises(ValueError, match=r"step 3 is smaller than the last logged step 7"):
            run.log({"a": 2}, step=3)
        run.finish()

    def test_numpy_step_is_accepted_and_float_step_refused(self, tmp_dir):
        run = quiet_init("p", root="results")
        run.log({"a": 1}, step=np.int64(4))
        with pytest.raises(TypeError, match="step must be an int"):
            run.log({"a": 1}, step=5.5)
        run.finish()
        assert [r["_step"] for r in history(tmp_dir / "results", "p", run.id)] == [4]

    def test_log_after_finish_raises(self, tmp_dir):
        run = quiet_init("p", root="results")
        run.finish()
        with pytest.raises(ledger.RunStateError, match="already finished"):
            run.log({"a": 1})

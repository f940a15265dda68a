"""Jupyter: a run lives across cells, shows itself as HTML, and ends without the kernel exiting."""

from __future__ import annotations

import textwrap

import pytest

import ledger
from tests.integrations.notebooks import cell_text

nbformat = pytest.importorskip("nbformat")


def notebook(*cells: str, raises: tuple[int, ...] = ()):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(textwrap.dedent(c).strip()) for c in cells]
    for i in raises:  # nbclient goes on after a cell tagged raises-exception
        nb.cells[i].metadata["tags"] = ["raises-exception"]
    return nb


def test_a_run_across_cells_with_an_html_summary(tmp_path, run_notebook):
    nb = run_notebook(
        notebook(
            """
            import ledger
            run = ledger.init("nb", root="results", config={"lr": 0.1, "title": "<script>alert(1)</script>"},
                              group="cells", system_metrics=False)
            """,
            """
            for i in range(3):
                run.log({"loss": 1.0 / (i + 1)})
            print("training in cell 2")
            """,
            "run",
            """
            run.summary["best"] = 0.5
            run.finish()
            run
            """,
            """
            view = ledger.open("results", cache=False).run(run.id)
            print(view.status, len(view.records()))
            """,
        ),
        tmp_path,
    )
    running, finished = (c.outputs[-1]["data"]["text/html"] for c in nb.cells[2:4])
    assert "running" in running
    assert "finished" in finished
    for html in (running, finished):
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # user text is escaped
        assert "<script>" not in html
        assert "cells" in html
    assert "best" in finished
    # The run ended in the kernel, before it exits: nothing waited for interpreter exit.
    assert cell_text(nb.cells[4]).split() == ["finished", "3"]

    view = ledger.open(tmp_path / "results").runs()[0]
    assert [r["loss"] for r in view.records()] == [1.0, 0.5, pytest.approx(1 / 3)]
    assert "training in cell 2" in view.output()
    assert view.summary["best"] == 0.5


@pytest.mark.slow
def test_a_fit_that_raises_in_a_cell_fails_its_run_when_the_cell_ends(tmp_path, run_notebook, monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "torch")  # for the kernel, and for this check that keras imports
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    nb = run_notebook(
        notebook(
            """
            import os
            os.environ["KERAS_BACKEND"] = "torch"
            import keras, numpy as np
            import ledger
            from ledger.integrations.keras import LedgerCallback

            class Boom(keras.callbacks.Callback):
                def on_epoch_end(self, epoch, logs=None):
                    if epoch == 1:
                        raise RuntimeError("diverged in epoch 1")

            model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
            model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
            x, y = np.zeros((16, 4), "float32"), np.zeros(16, "int32")
            cb = LedgerCallback(project="nb", root="results", system_metrics=False)
            """,
            "model.fit(x, y, epochs=3, verbose=0, callbacks=[cb, Boom()])",
            "print(cb.run.status, ledger.open('results', cache=False).run(cb.run.id).status)",
            """
            model.fit(x, y, epochs=1, verbose=0, callbacks=[cb])
            print(cb.run.status)
            """,
            raises=(1,),
        ),
        tmp_path,
    )
    assert "RuntimeError: diverged in epoch 1" in cell_text(nb.cells[1])
    assert cell_text(nb.cells[2]).split() == ["failed", "failed"]
    assert cell_text(nb.cells[3]).split() == ["finished"]  # the callback goes on with a new run

    failed, finished = ledger.open(tmp_path / "results").runs()
    assert failed.status == "failed"
    assert "RuntimeError: diverged in epoch 1" in failed.doc["error"]
    assert [r["epoch"] for r in failed.records()] == [0, 1]
    assert finished.status == "finished"

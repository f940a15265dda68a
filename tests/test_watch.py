"""ledger.watch on a tiny real torch model."""

from __future__ import annotations

import pytest

import ledger
from tests.helpers import quiet_init

torch = pytest.importorskip("torch")


def _train(run, model, steps=20):
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(32, 4, generator=torch.Generator().manual_seed(0))
    y = x.sum(dim=1, keepdim=True)
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        run.log({"loss": loss.item()})


@pytest.mark.parametrize("kind", ["gradients", "parameters", "all"])
def test_watch_records_the_expected_keys_every_n_steps(tmp_dir, kind):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    run = quiet_init("p", root="results")
    watcher = ledger.watch(model, log=kind, every=5)
    _train(run, model)
    watcher.remove()
    run.finish()
    view = ledger.open("results").run(run.id)
    names = ["0.weight", "0.bias", "2.weight", "2.bias"]
    prefixes = {"gradients": ["gradients"], "parameters": ["parameters"], "all": ["gradients", "parameters"]}[kind]
    expected_keys = {f"{p}/{n}" for p in prefixes for n in names}
    logged = {k for rec in view.records() for k, v in rec.items() if isinstance(v, dict)}
    assert logged == expected_keys
    if "gradients" in prefixes:
        hists = view.histograms("gradients/0.weight")
        assert [h.step for h in hists] == [0, 5, 10, 15]  # the step of the backward they came from
        assert all(sum(h.counts) == 32 for h in hists)  # 8x4 weights
        assert all(len(h.edges) == 65 for h in hists)
    if "parameters" in prefixes:
        assert [h.step for h in view.histograms("parameters/2.bias")] == [0, 4, 9, 14]
    assert [r["_step"] for r in view.records() if "loss" in r] == list(range(20))  # user steps untouched


def test_watch_needs_a_module_and_a_run(tmp_dir):
    with pytest.raises(ledger.RunStateError, match="no active run"):
        ledger.watch(torch.nn.Linear(2, 2))
    run = quiet_init("p", root="results")
    with pytest.raises(TypeError, match=r"expected a torch\.nn\.Module, got int"):
        ledger.watch(3)
    with pytest.raises(ValueError, match="log='weights' is not one of gradients, parameters, all"):
        ledger.watch(torch.nn.Linear(2, 2), log="weights")
    run.finish()

"""The framework examples of docs/integrations.md, run as the scripts they are, each in a fresh
interpreter and an empty folder: what the page shows must work as shown."""

from __future__ import annotations

import re

import pytest

import ledger
from tests.helpers import REPO, run_python

DOC = (REPO / "docs" / "integrations.md").read_text()

# section heading -> (the module the example needs, the run's group, a metric it must have logged)
EXAMPLES = {
    "XGBoost": ("xgboost", "xgb", "val/auc"),
    "LightGBM": ("lightgbm", "lgbm", "val/auc"),
    "Hugging Face Accelerate": ("accelerate", "linear", "train/loss"),
    "fastai": ("fastai", "mlp", "valid_loss"),
    "PyTorch Ignite": ("ignite", "linear", "val/accuracy"),
}

pytestmark = pytest.mark.slow


def example(heading: str) -> str:
    """The first python code block under ``## heading``."""
    section = DOC.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, f"no python example under '## {heading}'"
    return match.group(1)


@pytest.mark.parametrize("heading", list(EXAMPLES))
def test_the_example_runs_and_records_a_finished_run(tmp_path, heading):
    module, group, metric = EXAMPLES[heading]
    pytest.importorskip(module)
    proc = run_python(example(heading), tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr

    (run,) = ledger.open(tmp_path / "results").runs()
    assert (run.status, run.group) == ("finished", group)
    assert any(metric in r for r in run.records())


def test_every_framework_of_the_table_has_its_section():
    table = DOC.split("\n## ", 1)[0]
    for heading in EXAMPLES:
        assert f"\n| {heading} |" in table
        assert f"\n## {heading}\n" in DOC

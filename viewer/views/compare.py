"""Compare: two or more runs side by side; keys where they differ are highlighted."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from viewer import data, tables, ui

if TYPE_CHECKING:
    import pandas as pd

MAX_COMPARED = 12
HIGHLIGHT = "background-color: rgba(255, 196, 0, 0.25)"

src = data.source()
st.title("Compare")
candidates = data.runs(src, ui.selected_runs())
if len(candidates) < 2:
    ui.need_selection("two or more runs")
    st.stop()
labels = {r.id: data.label(r) for r in candidates}
ids = st.multiselect(
    "Runs",
    list(labels),
    default=list(labels)[:MAX_COMPARED],
    format_func=labels.__getitem__,  # every option is a key
    max_selections=MAX_COMPARED,
    key="cmp_runs",
)
runs = [r for r in candidates if r.id in ids]
if len(runs) < 2:
    st.info("Pick two or more runs.")
    st.stop()
hide_equal = st.toggle("Hide equal keys", key="cmp_hide_equal")

values = {}
for r in runs:
    flat = data.fields(r)
    reqs = data.file_text(src, r, "requirements.txt")
    for package, version in tables.requirements(reqs or "").items():
        flat[f"packages.{package}"] = version
    values[labels[r.id]] = flat
table = tables.compare(values)
differs = table.pop("differs")
st.caption(f"{int(differs.sum())} of {len(table)} keys differ")
if hide_equal:
    table = table[differs]
    differs = differs[differs]


def mark(row: pd.Series) -> list[str]:
    return [HIGHLIGHT if differs[str(row.name)] else ""] * len(row)  # the index: str keys (tables.compare)


for section in ("", "config.", "summary.", "git.", "host.", "packages."):
    top_level = ~table.index.str.contains(".", regex=False)
    part = table[table.index.str.startswith(section)] if section else table[top_level]
    if part.empty:
        continue
    st.subheader(section.rstrip(".") or "run")
    st.dataframe(part.style.apply(mark, axis=1), width="stretch")

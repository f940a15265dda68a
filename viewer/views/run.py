"""Run: one run in full: overview, config, summary, code state, command, log, system, media,
linked runs, artifacts (inputs, outputs, lineage graph), files."""

from __future__ import annotations

import functools
import mimetypes
import shlex
from typing import Any

import pandas as pd
import streamlit as st

import ledger
from ledger._units import hms
from viewer import charts, data, lineage, tables, ui

IMAGE_TYPES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp")  # never .svg: it may carry script
PREVIEW_BYTES = 20_000_000
PATCH_CHARS = 200_000
MAX_METRIC_PANELS = 48
METRICS_PER_ROW = 3

src = data.source()
st.title("Run")
ss = st.session_state
picked = ui.selected_runs()
asked = ss.get("run_id")  # from the URL (?run=ID), or the run shown last
if asked and asked not in picked:
    picked = [asked, *picked]
known = data.runs(src, picked)
options = [r.id for r in known]
labels = {r.id: data.label(r) for r in known}
if asked in options and ss.get("run_pick") not in options:
    ss["run_pick"] = asked
left, right = st.columns([3, 2])
choice = left.selectbox("Run", options, format_func=lambda i: labels.get(i, i), key="run_pick") if options else None
typed = right.text_input("or a run id (a unique prefix is enough)", key="run_typed").strip()
wanted = typed or choice
if wanted is None:
    ui.need_selection("a run")
    st.stop()
try:
    run = data.run(src, wanted)
except ledger.RunNotFoundError as exc:
    st.error(str(exc))
    st.stop()
ss["run_id"] = run.id
meta = run.meta
interval = float(ss.get("refresh_s", 10))

label = data.label(run)
st.header(ui.escape(run.name or run.id))
if meta.get("notes"):
    st.text(meta["notes"])

# ---- overview -----------------------------------------------------------------------------------
host = meta["host"] if isinstance(meta.get("host"), dict) else {}
gpus = host.get("gpus") or []
overview = {
    "id": run.id,
    "project": run.project,
    "group": run.group,
    "job_type": run.job_type,
    "status": tables.status_label(run.status),
    "tags": run.tags,
    "created": meta.get("created"),
    "ended": meta.get("ended"),
    "duration": hms(run.duration_s),
    "heartbeat": meta.get("heartbeat"),
    "user": meta.get("user"),
    "host": host.get("hostname"),
    "os": host.get("os"),
    "python": host.get("python"),
    "cpu": f"{host.get('cpu') or ''} ({host.get('cpu_count') or '?'} cores)" if host else None,
    "memory (GB)": host.get("memory_gb"),
    "gpus": [g.get("name") if isinstance(g, dict) else g for g in gpus] or run.gpu_count or None,
}


def kv(mapping: dict[str, Any], key_title: str = "field") -> pd.DataFrame:
    """A two-column table whose values are text (exact, and safe for Arrow)."""
    return pd.DataFrame({key_title: list(mapping), "value": [tables.text(v) for v in mapping.values()]})


st.subheader("Overview")
st.dataframe(kv({k: v for k, v in overview.items() if v not in (None, "", [])}), hide_index=True)
if meta.get("error"):
    with st.expander("Error", expanded=run.status == "failed"):
        st.code(str(meta["error"]), language=None)


def metric_panels(tick: int) -> None:
    """Small multiples of every metric the run logged (a search box narrows them)."""
    names = data.series_keys(src, run, "metrics", tick)
    st.subheader("Metrics")
    if not names:
        st.caption("No metrics were logged.")
        return
    needle = st.text_input("Find metrics", key="run_metric_search", placeholder="part of a metric name").strip().lower()
    shown = [n for n in names if needle in n.lower()][:MAX_METRIC_PANELS]
    if len(names) > len(shown):
        st.caption(
            f"{len(shown)} of {len(names)} metrics shown" + ("" if needle else "; narrow them with the search box")
        )
    view = data.View(x="step", samples=charts.DEFAULT_MAX_POINTS)
    panels = []
    for name in shown:
        line = charts.line_of(label, data.curve(src, run, name, view, tick))
        panels.append(charts.Panel(name, charts.paths_frame([line], [label])))
    st.vega_lite_chart(
        charts.grid_spec(panels, per_row=METRICS_PER_ROW, colour_keys=[label], height=150),
        width="content",
    )


@st.fragment(run_every=ui.refresh_every(run.status == "running"))
def live_metrics() -> None:
    metric_panels(data.tick(interval))


live_metrics()

config_col, summary_col = st.columns(2)
with config_col:
    st.subheader("Config")
    flat = {k.removeprefix("config."): v for k, v in data.fields(run).items() if k.startswith("config.")}
    st.dataframe(kv(flat, "key"), hide_index=True)
with summary_col:
    st.subheader("Summary")
    flat = {k.removeprefix("summary."): v for k, v in data.fields(run).items() if k.startswith("summary.")}
    st.dataframe(kv(flat, "metric"), hide_index=True)

# ---- code and command -------------------------------------------------------------------------
st.subheader("Code")
git = meta.get("git") if isinstance(meta.get("git"), dict) else None
if git:
    st.dataframe(
        kv({k: v for k, v in git.items() if k in ("commit", "branch", "remote", "dirty", "untracked")}), hide_index=True
    )
else:
    st.caption("No git repository was recorded.")
patch = data.file_text(src, run, "code.patch")
if patch:
    with st.expander(f"code.patch ({patch.count(chr(10))} lines)", expanded=len(patch) < 20_000):
        st.code(patch[:PATCH_CHARS], language="diff")
        if len(patch) > PATCH_CHARS:
            st.caption(f"Showing the first {PATCH_CHARS:,} of {len(patch):,} characters.")
command = meta.get("command") if isinstance(meta.get("command"), dict) else None
if command and command.get("argv"):
    st.caption("Command")
    st.code(shlex.join(str(a) for a in command["argv"]), language="bash")
    where = {k: command.get(k) for k in ("cwd", "executable") if command.get(k)}
    if where:
        st.caption(" · ".join(f"{k}: {ui.escape(v)}" for k, v in where.items()))
st.caption("Reproduce (a worktree at the recorded commit, the patch applied, the recorded command)")
st.code(f"ledger reproduce {run.id}", language="bash")


# ---- live parts -------------------------------------------------------------------------------
def system_panels(tick: int) -> None:
    """CPU, memory, and per-GPU utilisation and memory over the run's time."""
    st.subheader("System")
    names = data.series_keys(src, run, "system", tick)
    if not names:
        st.caption("No system metrics were sampled.")
        return
    view = data.View(x="relative", stream="system")
    panels = []
    keys: list[str] = []
    for title, members in charts.system_panels(names):
        lines = [charts.line_of(charts.system_label(n), data.curve(src, run, n, view, tick)) for n in members]
        panels.append(charts.Panel(title, charts.paths_frame(lines, [line.label for line in lines])))
        keys += [line.label for line in lines]
    spec = charts.grid_spec(
        panels, x_axis="relative time", per_row=2, colour_keys=keys, colour_title="series", height=200
    )
    st.vega_lite_chart(spec, width="content")


@st.fragment(run_every=ui.refresh_every(run.status == "running"))
def live() -> None:
    tick = data.tick(interval)
    st.subheader("Output")
    log = data.output(src, run, tick)
    if not log:
        st.caption("No console output was captured.")
    else:
        a, b = st.columns([1, 3])
        lines = a.number_input("Last lines", min_value=10, max_value=100_000, value=200, step=50, key="log_lines")
        search = b.text_input("Search the log", key="log_search", placeholder="text to find (any case)")
        shown, n_shown, n_matched = tables.tail(log, int(lines), search)
        total = log.count("\n") + (not log.endswith("\n"))
        what = f"{n_matched} matching lines" if search else f"{total} lines"
        st.caption(f"output.log: {what}, showing the last {n_shown}")
        st.code(shown, language=None, height=400)
        st.download_button("Download output.log", log, file_name=f"{run.id}-output.log", mime="text/plain")

    system_panels(tick)


live()

# ---- media ----------------------------------------------------------------------------------------
logged = data.media(src, run)
if any(logged.values()):
    st.subheader("Media")
for key, entries in logged["image"].items():
    steps = sorted({step for step, _ in entries})
    step = (
        st.select_slider(ui.escape(f"{key}: step"), options=steps, value=steps[-1], key=f"img-step-{key}")
        if len(steps) > 1
        else steps[0]
    )
    refs = [ref for s, ref in entries if s == step]
    cols = st.columns(min(len(refs), 4))
    for i, ref in enumerate(refs):
        with cols[i % len(cols)]:
            caption = ref.get("caption")  # captions are markdown to Streamlit: shown as typed
            try:
                st.image(
                    data.media_file(src, run.id, ref["path"]),
                    caption=ui.escape(caption) if isinstance(caption, str) else None,
                    width="content",
                )
            except Exception as exc:  # a missing, refused or broken file: say so, go on
                st.caption(ui.escape(f"{ref.get('path')}: not shown ({exc})"))
for key, entries in logged["table"].items():
    steps = [step for step, _ in entries]
    a, b = st.columns([1, 3])
    step = a.selectbox(ui.escape(f"{key}: step"), steps, index=len(steps) - 1, key=f"tbl-step-{key}")
    needle = b.text_input(ui.escape(f"Filter {key}"), key=f"tbl-filter-{key}", placeholder="text in any column")
    ref = next(ref for s, ref in entries if s == step)
    try:
        frame = tables.media_table(data.media_file(src, run.id, ref["path"]), needle)
    except Exception as exc:  # a missing, refused or broken file: say so, go on
        st.caption(ui.escape(f"{ref.get('path')}: not shown ({exc})"))
        continue
    st.caption(ui.escape(f"{key} at step {step}: {len(frame)} of {ref.get('rows', len(frame))} rows"))
    st.dataframe(frame, hide_index=True)  # sortable by any column
for key, entries in logged["histogram"].items():
    st.vega_lite_chart(charts.histogram_spec(key, entries), width="stretch")

# ---- linked runs ------------------------------------------------------------------------------------
related = run.links()
if related:
    st.subheader("Linked runs")
    st.dataframe(
        pd.DataFrame(
            {
                "relation": [rel for rel, _, _ in related],
                "direction": ["this run -> it" if way == "out" else "it -> this run" for _, _, way in related],
                "run": [rid for _, rid, _ in related],
                "open": [f"?run={rid}" for _, rid, _ in related],
            }
        ),
        hide_index=True,
        column_config={"open": st.column_config.LinkColumn("open", display_text="open")},
    )

# ---- artifacts: inputs, outputs, lineage ----------------------------------------------------------
around = lineage.run_artifacts(src, run)
if around is not None:
    st.subheader("Artifacts")
    links = {"open": st.column_config.LinkColumn("open", display_text="open")}
    used, made = lineage.inputs_table(around), lineage.outputs_table(around)
    if len(used):
        st.caption("Inputs: the artifact versions this run used, and the runs that made them")
        st.dataframe(used, hide_index=True, column_config=links, key="run_inputs")
    if len(made):
        st.caption("Outputs: the artifact versions this run logged, and the runs that used them")
        st.dataframe(made, hide_index=True, column_config=links, key="run_outputs")
    st.caption("Lineage: versions go into the runs that used them, runs into the versions they logged")
    st.graphviz_chart(lineage.lineage_dot(around.lineage), width="stretch")

# ---- saved files ------------------------------------------------------------------------------
st.subheader("Files")
files = data.saved_files(src, run)
if not files:
    st.caption("No files were saved (run.save).")
for path, size in files.items():
    name_col, size_col, button_col = st.columns([4, 1, 1])
    name_col.text(path)
    size_col.text(f"{size:,} B")
    button_col.download_button(
        "Download",
        functools.partial(data.saved_file, src, run.id, path),
        file_name=path.rsplit("/", 1)[-1],
        mime=mimetypes.guess_type(path)[0] or "application/octet-stream",
        key=f"dl-{path}",
        on_click="ignore",
    )
    if path.lower().endswith(IMAGE_TYPES) and size <= PREVIEW_BYTES:
        st.image(data.saved_file(src, run.id, path), caption=None, width=400)

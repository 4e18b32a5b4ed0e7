"""Round walk-through: one stored round replayed as numbered steps on one 2-D map, two strategies on the
same round side by side, and "why was this one not picked?" (issue 15).

Everything is computed by :mod:`mlal_core.inspection.walkthrough` and
:mod:`mlal_core.inspection.why_not`; this page holds the widgets and their state only.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import streamlit as st

from mlal_core import strategies
from mlal_core.errors import MLALError
from mlal_core.glossary import glossary_link
from mlal_core.inspection import projection
from mlal_core.inspection import round_history as rh
from mlal_core.inspection import walkthrough as wt
from mlal_core.inspection import walkthrough_tables
from mlal_core.inspection.why_not import search_positions, why_not
from ui import widgets
from ui.state import progress_callback, require_session

#: the map's projections: label -> ``round_map`` method (UMAP only where umap-learn is installed)
METHODS = {"t-SNE": "tsne", "PCA (fast)": "pca"}
if importlib.util.find_spec("umap") is not None:
    METHODS["UMAP"] = "umap"
#: t-SNE / UMAP map at most this many points (the labelled set, the picks and CRAB's U* always)
MAP_CAP = 3000
STEP_MODE, SIDE_MODE = "Step by step", "Two strategies side by side"

st.title("Round walk-through")
st.caption("One round replayed step by step on one map of its candidates: the model, the strategy's own steps, "
           "the picks; two strategies on the same round; and why a sample was not picked.")

session = require_session()
rh.keep_contexts(session)  # rounds run from now on keep their model state in memory (idempotent)
recs = rh.query_records(session)
if not recs:
    st.info("No round has been run yet: run at least one round on the **Active learning** page, then come back.")
    st.stop()
strategy = session.config.strategy
key = rh.session_key(session)

widgets.explain(
    "a round, one step at a time",
    f"""
Choose a round: the page rebuilds that round exactly as it ran (the model trained on the labelled set
{glossary_link('labelled-set', 'L_t')} with the round's seed; rounds run in this browser session are kept in
memory) and projects its candidates and labelled samples **once** to a 2-D map. Then click through the
numbered steps: every step draws on the same map, says in a sentence what happens, and lists its numbers.

* **The model**: each candidate's predicted label set (its {glossary_link('pseudo-label', 'pseudo labels')})
  and its uncertainty (summed binary entropy of the label probabilities) as colour.
* **The strategy's own steps**, read from what the round recorded: for {glossary_link('crab', 'CRAB')} the
  correlations {glossary_link('a', 'A')} / {glossary_link('nega', 'NegA')}, the kept and dropped labels, the
  three pools, {glossary_link('u-star', 'U*')} and its {glossary_link('top-up', 'random top-up')},
  {glossary_link('dq-ab', 'dQ_AB')} and the {glossary_link('kmeans-batch', 'k-means clusters')}; for
  {glossary_link('besra', 'BESRA')} the top-50 % cut and its clusters; BADGE's k-means++ draws and Core-Set's
  k-center steps in order; CoMAL's {glossary_link('slci', 'SLCI')} and {glossary_link('pfd', 'PFD')}; for a
  strategy that ranks by a score, the score and the cut.
* **The picks**, numbered in pick order, with the labelled set before the round (black x).

Every rank and {glossary_link('percentile', 'percentile')} names the set it is over ("rank 3 of 20 in U*"), and
scores are also given relative to that set's median. The map is a {glossary_link('t-sne', 't-SNE')} or
{glossary_link('umap', 'UMAP')} picture of the features (neighbours stay neighbours; distances between far
clusters and the axes mean nothing) or PCA, the fast linear projection.

**Two strategies side by side** run this session's strategy ({strategy}) and another one on the same
rebuilt round: both picks on the map and on both score histograms, and for each pick of one the rank the
other gave it. **Why was this one not picked?** Click any point of the map, type a pool position or search
the texts: its score, rank and percentile, the pools it was or was not in, its cluster and the pick that
beat it.
""",
    latex=[r"\mathrm{rank}(x) = 1 + |\{x' \in S : s(x') > s(x)\}|, \qquad "
           r"\mathrm{percentile}(x) = 100\,\frac{|\{x' \in S : s(x') \le s(x)\}|}{|S|}, \qquad "
           r"\text{relative} = \frac{s(x)}{\mathrm{median}_{x' \in S}\, s(x')}"],
)

# ====================================================================== round, map method, mode
q_rounds = [int(r.round) for r in recs]
c1, c2 = st.columns([3, 2])
with c1:
    if len(q_rounds) > 1:
        t = st.select_slider("Round", options=q_rounds, value=q_rounds[-1], key="wt_round",
                             format_func=lambda r: f"round {r} ({recs[r].n_labeled} labelled, "
                                                   f"{len(recs[r].selected)} picked)")
    else:
        t = q_rounds[0]
        st.caption(f"Round {t} ({recs[t].n_labeled} labelled, {len(recs[t].selected)} picked).")
method_label = c2.radio("Map", list(METHODS), horizontal=True, key="wt_method",
                        help="t-SNE (as on the Embeddings page) or UMAP: seeded and cached, seconds on a first "
                             "map of a few thousand points; PCA: a fast linear projection.")
method = METHODS[method_label]
mode = st.radio("View", [STEP_MODE, SIDE_MODE], horizontal=True, key="wt_mode")

# ====================================================================== rebuild the round, project it
bar = st.progress(0.0, text=f"Gathering round {t} (rebuilding its model when it is not in memory)...")
try:
    inp = wt.round_inputs(session, t, progress=progress_callback(bar))
except MLALError as e:
    bar.empty()
    st.error(f"Round {t} could not be rebuilt: {e}")
    st.stop()
bar.empty()

n_points = inp.n_candidates + int(inp.labelled.size)
cap = MAP_CAP if method != "pca" and n_points > MAP_CAP else None
keep = tuple(int(p) for p in inp.diagnostics.get("refined_pool", ())) if cap else ()
if method == "umap" and not projection.umap_is_warm():
    projection.warm_up_umap(background=True)  # compile now, while the user reads (one thread per process)
    waiting = ("UMAP compiles its numerical code the first time it runs in this server (10-30 s, once); then "
               f"the map of {min(n_points, cap or n_points)} points is computed...")
else:
    waiting = f"Computing the {method_label} map of {min(n_points, cap or n_points)} points (once per round)..."
try:
    with st.spinner(waiting):
        rmap = wt.round_map(session, t, method=method, cap=cap, keep=keep)
except MLALError as e:
    st.error(f"Could not compute the map: {e}")
    st.stop()
map_note = (f"The map shows {rmap.positions.size} of the {n_points:,} candidates and labelled samples (all "
            "labelled samples and picks, a seeded random rest); the numbers count them all." if cap else
            f"The map shows all {rmap.positions.size} candidates and labelled samples.")
source = {"memory": "kept in memory from the live run", "replayed": f"rebuilt on L_{t} with the round's seed"}
st.caption(f"Round {t} of {strategy}: {inp.n_candidates:,} candidates, {inp.labelled.size:,} labelled before, "
           f"{inp.picks.size} picked. Model: {source.get(getattr(inp.state, 'source', ''), 'rebuilt')}. "
           f"Map: {rmap.axis_prefix} of {rmap.features.rstrip('.')}. {map_note}")


# ====================================================================== helpers (widgets only)
def _clicked_position(event) -> int | None:
    """The pool position of the first point clicked on the map (``customdata[0]``), else None."""
    try:
        points = event["selection"]["points"]
    except (KeyError, TypeError, IndexError):
        return None
    for point in points or []:
        data = point.get("customdata") if isinstance(point, dict) else None
        if isinstance(data, (list, tuple)) and data:
            data = data[0]
        try:
            return int(data)
        except (TypeError, ValueError):
            continue
    return None


def _take_map_click() -> None:
    """A new click on the map asks about that sample (before the position input is drawn)."""
    pos = _clicked_position(st.session_state.get("chart_wt_map"))
    if pos != st.session_state.get("_wt_last_click"):
        st.session_state["_wt_last_click"] = pos
        if pos is not None:
            st.session_state["wt_position"] = pos


def _ask_search_hit() -> None:
    hit = st.session_state.get("wt_hit")
    if hit is not None:
        st.session_state["wt_position"] = int(hit)


def _move(delta: int, n_steps: int) -> None:
    st.session_state["wt_step"] = min(max(0, int(st.session_state.get("wt_step", 0)) + delta), n_steps - 1)


# ====================================================================== step by step
def _step_view(steps: list[wt.Step], asked: int | None) -> None:
    n = len(steps)
    if st.session_state.get("wt_step") not in range(n):
        st.session_state["wt_step"] = 0
    b1, b2, b3 = st.columns([2, 2, 7])
    b1.button("Previous", key="wt_prev", on_click=_move, args=(-1, n), disabled=st.session_state["wt_step"] == 0,
              icon=":material/arrow_back:")
    b2.button("Next", key="wt_next", on_click=_move, args=(1, n), disabled=st.session_state["wt_step"] == n - 1,
              icon=":material/arrow_forward:")
    i = b3.selectbox("Step", list(range(n)), key="wt_step", format_func=lambda j: steps[j].title,
                     label_visibility="collapsed")
    step = steps[i]
    st.subheader(step.title)
    st.markdown(step.sentence)
    fig = wt.step_map(rmap, step, highlight=asked)  # titled, so a downloaded map says which step it is
    fig.update_layout(height=600)
    widgets.figure(fig, key="wt_map", on_select="rerun", selection_mode="points")
    st.caption("Click a point to ask why it was (not) picked (below). " + map_note)
    left, right = st.columns([1, 1])
    with left:
        numbers, per_pick = walkthrough_tables.step_tables(step, inp.picks.size)
        widgets.table(numbers, key="wt_numbers", file_name=f"round{t}_step_{step.key}.csv", hide_index=True,
                      column_order=["quantity", "value"])
    with right:
        row = inp.row_of(asked) if asked is not None else None
        scores = step.histogram.scores if step.histogram is not None else None
        mark = row if row is not None and scores is not None and np.isfinite(scores[row]) else None
        hist = wt.step_histogram(step, highlight=mark)
        if hist is not None:
            widgets.figure(hist, key="wt_hist")
    if per_pick is not None:
        st.markdown("**Per pick**")
        widgets.table(per_pick, key="wt_per_pick", file_name=f"round{t}_step_{step.key}_picks.csv", hide_index=True)


def _why_not_view() -> None:
    st.header("Why was this one not picked?")
    c1, c2 = st.columns([1, 2])
    c1.number_input("Pool position", min_value=0, max_value=max(0, session.n_pool - 1), value=None, step=1,
                    key="wt_position",
                    placeholder="click the map or type", help="Any sample of the pool: a candidate, a pick or a "
                    "labelled one. A click on the map fills it in.")
    if inp.texts is not None:
        query = c2.text_input("Search the texts", key="wt_search", placeholder="e.g. oil",
                              help="Candidates whose text contains these words (case-insensitive).")
        hits = search_positions(inp, query) if query.strip() else []
        if query.strip() and not hits:
            c2.caption("No candidate's text contains that.")
        elif hits:
            texts = inp.texts
            c2.selectbox(f"{len(hits)} matching candidates", hits, index=None, key="wt_hit", on_change=_ask_search_hit,
                         format_func=lambda p: f"sample {p}: {str(texts[int(p)])[:90]}", placeholder="choose one")
    pos = st.session_state.get("wt_position")
    if pos is None:
        st.caption("Click a point of the map, type a pool position or search a text.")
        return
    story = why_not(inp, int(pos))
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Status", story.status)
    m2.metric("Score", "n/a" if not np.isfinite(story.score) else f"{story.score:.4g}", help=inp.score_name)
    m3.metric("Rank", "n/a" if story.rank is None else f"{story.rank} of {story.n_over}",
              help=f"Over {story.over}." if story.over else None)
    m4.metric("Beaten by", "n/a" if story.beaten_by is None else f"sample {story.beaten_by}",
              help=story.margin_kind or None)
    st.markdown("\n".join(f"* {line}" for line in story.lines))
    if inp.texts is not None and 0 <= int(pos) < len(inp.texts):
        text = str(inp.texts[int(pos)])
        st.markdown("> " + (text[:600] + (" ..." if len(text) > 600 else "")).replace("\n", " "))


# ====================================================================== two strategies
def _side_view() -> None:
    choices = rh.strategy_choices(session)
    display = {n: d for n, d, _ in choices}
    others = [n for n, _, why in choices if not why and n != strategy]
    default = next((n for n in ("entropy", "random") if n in others), others[0] if others else None)
    if default is None:  # pragma: no cover - every registry has more than one strategy
        st.info("No other strategy can run on this session.")
        return
    if st.session_state.get("wt_other") not in others:
        st.session_state["wt_other"] = default
    other = st.selectbox(f"Compare {display.get(strategy, strategy)} with", others, key="wt_other",
                         format_func=lambda n: display.get(n, n),
                         help="Text-only strategies are offered for text datasets only.")
    params: dict = {}
    info = strategies.info(other)
    if info.params:
        with st.expander(f"Parameters of {display.get(other, other)} (defaults unless changed)"):
            cols = st.columns(3)
            for j, p in enumerate(info.params):
                value = widgets.param_input(p, key=f"wt_param_{other}_{p.name}", container=cols[j % 3])
                if value != p.default:
                    params[p.name] = value
    store = st.session_state.setdefault("wt_sides", {})
    side_key = (key, t, other, repr(sorted(params.items())))
    if st.button(f"Run both on round {t}'s model", key="wt_compare", type="primary"):
        bar = st.progress(0.0, text="starting")
        try:
            store[side_key] = wt.compare_on_round(session, t, strategy, other, params={other: params},
                                                  state=inp.state, progress=progress_callback(bar))
        except MLALError as e:
            st.error(f"The comparison failed: {e}")
        bar.empty()
    side = store.get(side_key)
    if side is None:
        st.caption(f"Press the button: both strategies run on round {t}'s model with the same seed, so "
                   f"{strategy} picks its recorded samples again.")
        return
    a, b = side.names
    m1, m2, m3 = st.columns(3)
    m1.metric("Picked by both", int(side.both.size))
    m2.metric(f"Only {a}", int(side.only(a).size))
    m3.metric(f"Only {b}", int(side.only(b).size))
    st.markdown("\n".join([f"* **Both:** {', '.join(map(str, side.both)) or '(none)'}",
                           f"* **Only {a}:** {', '.join(map(str, side.only(a))) or '(none)'}",
                           f"* **Only {b}:** {', '.join(map(str, side.only(b))) or '(none)'}"]))
    figs = wt.comparison_figures(side, rmap, labelled=inp.labelled)
    figs["map"].update_layout(height=600)
    widgets.figure(figs["map"], key="wt_side_map")
    if "histograms" in figs:
        widgets.figure(figs["histograms"], key="wt_side_hist")
    else:
        st.caption("One of the two gives no score (a random draw), so there is no histogram to compare.")
    st.markdown("**Each pick and the rank the other strategy gave it** (`other_rank` is over the candidates the "
                "other strategy scored; empty where it scored none, e.g. outside CRAB's U*).")
    widgets.table(side.table, key="wt_side_table", file_name=f"round{t}_{a}_vs_{b}.csv", hide_index=True)


# ====================================================================== the page
if mode == STEP_MODE:
    _take_map_click()
    steps = wt.round_walkthrough(session, t, inputs=inp)
    asked = st.session_state.get("wt_position")
    _step_view(steps, None if asked is None else int(asked))
    _why_not_view()
else:
    _side_view()

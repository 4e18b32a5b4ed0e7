"""The app's session state: the store, the current active-learning session, its dataset.

Pages read and write state only through these functions, so the keys live in one place.

* ``al_session``: the current :class:`ActiveLearningSession` (or None).
* ``al_pending``: ``{session_id: PendingRound}``, a round proposed for a person to label.
* ``al_worker``: the :class:`~mlal_core.session.worker.SessionWorker` running the current session's rounds in
  the background (or None); ``al_worker_outcome``: the status of the last one that ended.
* ``al_oracle``: ``"simulated"`` or ``"person"``.
* ``uploaded_dataset``: the last uploaded, validated dataset (or None).
* ``classroom_access``: in classroom mode, who signed in and the workspace they work in
  (:class:`mlal_core.access.Access`; ``ui/classroom.py`` sets it). The store is that workspace's.
* ``al_sync_notice``: said once at the top of the next page after the current session was reloaded
  because another browser advanced it (:func:`sync_with_store`).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import streamlit as st
from streamlit.errors import StreamlitAPIException

from mlal_core import paths
from mlal_core.access import Access
from mlal_core.errors import MLALError
from mlal_core.session.loop import ActiveLearningSession
from mlal_core.session.records import PendingRound
from mlal_core.session.store import SessionStore, StoreError
from mlal_core.session.worker import FeatureWorker, SessionWorker, WorkerStatus

SESSION_KEY = "al_session"
PENDING_KEY = "al_pending"
WORKER_KEY = "al_worker"
OUTCOME_KEY = "al_worker_outcome"
ORACLE_KEY = "al_oracle"
UPLOAD_KEY = "uploaded_dataset"
HOME_PAGE = "pages/home.py"
ACCESS_KEY = "classroom_access"
SYNC_NOTICE_KEY = "al_sync_notice"


@st.cache_resource(show_spinner=False)
def _store_at(path: str) -> SessionStore:
    return SessionStore(path)


def get_access() -> Access | None:
    """Who signed in to this browser session (classroom mode), else None."""
    return st.session_state.get(ACCESS_KEY)


def workspace() -> str | None:
    """The classroom workspace this browser session works in (None: classroom mode is off)."""
    access = get_access()
    return None if access is None else access.workspace


def get_store(path: str | None = None) -> SessionStore:
    """One SQLite store per server process and path: ``$MLAL_HOME/sessions.sqlite`` by default, the
    workspace's own store in classroom mode (``paths.default_store_path(workspace())``). The workspace
    comes from this browser session's state, so each participant sees only their store."""
    return _store_at(str(path or paths.default_store_path(workspace())))


def store_place() -> str:
    """Where the sessions are stored, in words: the workspace in classroom mode (the server's paths
    are not shown to participants), else the store's path."""
    ws = workspace()
    return f"your workspace `{ws}`" if ws is not None else f"`{get_store().path}`"


def get_session() -> ActiveLearningSession | None:
    """The session the user is working on, or None."""
    return st.session_state.get(SESSION_KEY)


def set_session(session: ActiveLearningSession | None) -> None:
    """Make ``session`` the one the user works on (None: none); a worker of another session stops
    after its round."""
    if session is not None:  # keep the last rounds' model state, so the inspector need not retrain it
        from mlal_core.inspection import round_history

        round_history.keep_contexts(session)
    worker = st.session_state.get(WORKER_KEY)
    if worker is not None and worker.session is not session:
        worker.stop_after_round()  # the round in progress still completes and is stored
        st.session_state[WORKER_KEY] = None
    st.session_state[SESSION_KEY] = session


#: one lock per session object (weak keys: a session that is dropped takes its lock with it)
_SESSION_LOCKS: weakref.WeakKeyDictionary[ActiveLearningSession, threading.Lock] = weakref.WeakKeyDictionary()
_LOCKS_LOCK = threading.Lock()


def session_lock(session: ActiveLearningSession) -> threading.Lock:
    """Held while a round trains / commits. Streamlit starts a new script thread when the user
    interacts during a long run and lets the old one finish its work, so two threads could otherwise
    step the same session at once."""
    with _LOCKS_LOCK:
        lock = _SESSION_LOCKS.get(session)
        if lock is None:
            lock = _SESSION_LOCKS[session] = threading.Lock()
        return lock


def wait_for_round(session: ActiveLearningSession, timeout_s: float = 3600) -> bool:
    """Block (politely) until no round of ``session`` is in progress; True if one was."""
    lock = session_lock(session)
    if not lock.locked():
        return False
    deadline = time.monotonic() + timeout_s
    while not lock.acquire(timeout=0.25):
        if time.monotonic() > deadline:
            return True
    lock.release()
    return True


def _advanced_text(first: int, last: int, final: bool) -> str:
    if final and first == last:
        what = "The final evaluation was"
    elif first == last:
        what = f"Round {last} was"
    else:
        what = f"Rounds {first} to {last} were"
    return f"{what} completed in another browser; showing the stored session."


def reload_if_advanced(session: ActiveLearningSession) -> bool:
    """Reload ``session`` from its store when the store holds more records than this browser has
    (another browser, or another tab, ran rounds of it), or drop it when it was deleted there. Says so
    once through :data:`SYNC_NOTICE_KEY`. Only for the current session.

    Returns True when the session was reloaded or dropped."""
    store, sid = session.store, session.session_id
    if store is None or sid is None or session is not get_session():
        return False
    try:
        stored = store.record_count(sid)
    except StoreError:
        set_session(None)
        st.session_state[SYNC_NOTICE_KEY] = (f"Session `{sid[:8]}` is no longer in the store (deleted in another "
                                             "browser?). Start or reopen one on **Home / set-up**.")
        return True
    shown = len(session.history)
    if stored <= shown:
        return False
    try:
        fresh = ActiveLearningSession.resume(store, sid, dataset=session.dataset, features=session.features)
    except MLALError as e:
        set_session(None)
        st.session_state[SYNC_NOTICE_KEY] = (f"Session `{sid[:8]}` was advanced in another browser and cannot be "
                                             f"reloaded here: {e}")
        return True
    set_session(fresh)
    st.session_state[SYNC_NOTICE_KEY] = _advanced_text(shown, stored - 1, fresh.finished)
    return True


def sync_with_store() -> None:
    """On every rerun (``app.py``): when another browser advanced the current session, reload it
    from the store (:func:`reload_if_advanced`); not while this browser's own round is running."""
    session = get_session()
    if session is None or get_worker(session) is not None or session_lock(session).locked():
        return
    reload_if_advanced(session)


def show_sync_notice() -> None:
    """Show the notice of the last reload by :func:`sync_with_store` (once), if there is one."""
    notice = st.session_state.pop(SYNC_NOTICE_KEY, None)
    if notice is not None:
        st.info(notice, icon=":material/sync:")


def require_session() -> ActiveLearningSession:
    """The current session, reloaded first if another browser advanced it (:func:`sync_with_store`,
    with its notice); otherwise a hint to start one on the home page, and the page stops."""
    sync_with_store()  # app.py did it already for a served app (this is then one cheap query)
    show_sync_notice()
    session = get_session()
    if session is None:
        st.info("No active-learning session yet. Start a new one or reopen a stored one on the **Home** page.")
        try:
            st.page_link(HOME_PAGE, label="Go to Home / set-up", icon=":material/home:")
        except StreamlitAPIException:  # a page run on its own (e.g. AppTest.from_file): no navigation
            pass
        st.stop()
    return session


# ---------------------------------------------------------------------------------- oracle
def get_oracle() -> str:
    """``"simulated"`` (answers from the ground truth) or ``"person"`` (the user labels the picks)."""
    return st.session_state.get(ORACLE_KEY, "simulated")


def set_oracle(kind: str) -> None:
    st.session_state[ORACLE_KEY] = kind


def get_pending(session: ActiveLearningSession) -> PendingRound | None:
    """The round proposed for a person to label, if it still fits the session."""
    pending = st.session_state.get(PENDING_KEY, {}).get(session.session_id)
    if pending is not None and pending.round != session.next_round:
        clear_pending(session)
        return None
    return pending


def set_pending(session: ActiveLearningSession, pending: PendingRound) -> None:
    st.session_state.setdefault(PENDING_KEY, {})[session.session_id] = pending


def clear_pending(session: ActiveLearningSession) -> None:
    st.session_state.setdefault(PENDING_KEY, {}).pop(session.session_id, None)


# ---------------------------------------------------------------------------------- running
def get_worker(session: ActiveLearningSession | None = None) -> SessionWorker | None:
    """The background worker of ``session`` (default: the current one) while it runs, else None."""
    session = session if session is not None else get_session()
    worker = st.session_state.get(WORKER_KEY)
    if worker is None or session is None or worker.session is not session:
        return None
    return worker


def start_worker(session: ActiveLearningSession, records: int, *, commit: bool = True) -> SessionWorker:
    """Write ``records`` more records of ``session`` in a background thread (see ``mlal_core.session.worker``).
    ``commit=False``: propose one round for a person to label (it becomes the pending round when the
    worker is done)."""
    worker = SessionWorker(session, records, lock=session_lock(session), commit=commit)
    st.session_state[WORKER_KEY] = worker
    st.session_state[OUTCOME_KEY] = None
    return worker.start()


def finish_worker() -> WorkerStatus | None:
    """Forget the worker once it has ended and keep its final status (shown once by the page)."""
    worker = st.session_state.get(WORKER_KEY)
    if worker is None or worker.running:
        return None
    status = worker.status()
    st.session_state[WORKER_KEY] = None
    if status.state == "failed" and reload_if_advanced(worker.session):
        return None  # another browser stored the round first: the reload notice says so, not an error
    st.session_state[OUTCOME_KEY] = status
    if worker.pending is not None:
        set_pending(worker.session, worker.pending)
    return status


def pop_outcome() -> WorkerStatus | None:
    """The status of the last worker that ended (once)."""
    return st.session_state.pop(OUTCOME_KEY, None)


# ---------------------------------------------------------------------------------- caches
@st.cache_resource(show_spinner=False)
def _memo_store() -> tuple[OrderedDict, dict, threading.Lock]:
    return OrderedDict(), {}, threading.Lock()


def memo(key: tuple, compute: Callable[[], Any], max_entries: int = 16) -> Any:
    """``compute()`` once per ``key`` per server process (least recently used entries dropped).

    For objects ``st.cache_data`` cannot hash (datasets, features): key them by content hash. A
    caller that finds the key being computed (e.g. by the script thread of an earlier rerun) waits
    for that result instead of computing it again."""
    cache, key_locks, guard = _memo_store()
    with guard:
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
        lock = key_locks.setdefault(key, threading.Lock())
    with lock:
        with guard:
            if key in cache:
                return cache[key]
        value = compute()
        with guard:
            cache[key] = value
            key_locks.pop(key, None)
            while len(cache) > max_entries:
                cache.popitem(last=False)
    return value


def dataset_key(ds) -> str:
    """A cache key for a dataset: its content hash (memoised on the object)."""
    key = getattr(ds, "_ui_hash", None)
    if key is None:
        key = ds.content_hash()
        try:
            object.__setattr__(ds, "_ui_hash", key)
        except (AttributeError, TypeError):  # pragma: no cover - a frozen object
            pass
    return key


@st.cache_resource(show_spinner=False)
def _feature_workers() -> tuple[OrderedDict, threading.Lock]:
    return OrderedDict(), threading.Lock()


def prepare_features(ds, request: dict) -> FeatureWorker:
    """The background worker preparing ``featurize(ds, **request)``, one per dataset and request per
    server process: started on first call, shared by every page and browser tab, kept when the user
    moves to another page. A worker that was cancelled or failed is replaced by a new one (which
    resumes from the chunks already in the cache); the last few finished ones are kept with their
    features."""
    workers, guard = _feature_workers()
    key = (dataset_key(ds), tuple(sorted(request.items())))
    with guard:
        worker = workers.get(key)
        if worker is None or worker.status().state in ("cancelled", "failed"):
            worker = workers[key] = FeatureWorker(ds, request).start()
        workers.move_to_end(key)
        finished = [k for k, w in workers.items() if not w.running and k != key]
        for old in finished[:max(0, len(workers) - 6)]:
            workers.pop(old)
    return worker


@st.cache_resource(show_spinner=False)
def warm_encoder() -> threading.Thread:
    """Load the MiniLM encoder in a background thread, once per server process (importing
    transformers and reading the weights takes seconds that a first session would otherwise wait)."""
    from mlal_core.features import encoder

    thread = threading.Thread(target=encoder.load_encoder, name="mlal-warm-encoder", daemon=True)
    thread.start()
    return thread


def features_for(ds, request: dict, progress=None):
    """The features of ``featurize(ds, **request)``, waiting for the background worker that prepares
    them (shared with every other caller; ``progress(done, total, message)`` follows it). Raises the
    worker's error if it fails."""
    worker = prepare_features(ds, request)
    while not worker.join(timeout=0.25):
        if progress is not None:
            status = worker.status()
            progress(status.step_done, status.step_total, status.message)
    status = worker.status()
    if status.state != "done":
        raise MLALError(status.error or status.message)
    return worker.result


def feature_workers_running() -> list[FeatureWorker]:
    """The feature workers still running in this server process (for the sidebar)."""
    workers, guard = _feature_workers()
    with guard:
        return [w for w in workers.values() if w.running]


def progress_callback(bar) -> Callable[[int, int, str], None]:
    """A ``progress(done, total, message)`` callback that moves a ``st.progress`` bar."""

    def update(done: int, total: int, message: str) -> None:
        frac = 0.0 if not total else min(1.0, max(0.0, done / total))
        bar.progress(frac, text=f"{message} ({done}/{total})" if total else message)

    return update

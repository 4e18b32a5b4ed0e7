"""Run a session's rounds in a background thread, with progress and cancellation.

Fine-tuning a text backbone takes minutes per round on a laptop CPU. ``SessionWorker`` runs the
rounds in a thread the caller owns, so the app and the CLI stay responsive and can show progress:

    worker = SessionWorker(session, records=3).start()
    while worker.running:
        print(worker.status().message)      # "Round 2: training (epoch 3 of 10, member 2 of 5)"
        time.sleep(0.5)
    worker.cancel()                          # aborts the round in progress (or stop_after_round())

Guarantees:

* Each round is stored when it completes (``session.step``: one transaction); nothing of an
  unfinished round is stored.
* ``cancel()`` raises ``RoundCancelled`` from the next progress report of the round in progress
  (every mini-batch or epoch of training, every inference chunk, between phases): the round is
  dropped and the session stays at its last completed round, ready to continue. ``stop_after_round()``
  lets the round in progress finish first.
* A crash (any other exception) marks the stored session ``failed`` with the error as its note,
  keeps its completed rounds (it can be resumed), and is reported in ``status().error``.

Torch releases the GIL in its kernels, so a training thread leaves the caller's thread free.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from mlal_core.errors import ConfigError, RoundCancelled

#: worker states: not started, running, every record written, stopped by the user, crashed
STATES = ("ready", "running", "done", "cancelled", "failed")


@dataclass(frozen=True)
class WorkerStatus:
    """A snapshot of a worker (safe to read from any thread)."""

    state: str
    records_done: int
    records_total: int
    message: str
    step_done: int
    step_total: int
    elapsed_s: float
    error: str | None = None

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def step_fraction(self) -> float | None:
        """Progress of the current phase in [0, 1], or None when the phase reports no count."""
        return min(1.0, self.step_done / self.step_total) if self.step_total > 0 else None


class SessionWorker:
    """Writes up to ``records`` more records (rounds, then the final evaluation) of ``session``.

    ``lock``: held while a round runs (the app's per-session lock, so no two threads step the same
    session). ``on_record(record, pending)``: called in the worker thread after each stored round
    (e.g. to keep the picks' predicted probabilities). ``commit=False`` (with ``records=1``) only
    proposes the next round, for a person to label: the ``PendingRound`` is left in ``pending``
    (a final round, which needs no labels, is committed).
    """

    def __init__(
        self,
        session,
        records: int,
        *,
        lock: threading.Lock | None = None,
        on_record: Callable | None = None,
        commit: bool = True,
    ) -> None:
        if int(records) < 1:
            raise ConfigError(f"records must be at least 1; got {records}.")
        if not commit and int(records) != 1:
            raise ConfigError("commit=False proposes one round for a person to label; use records=1.")
        self.session = session
        self.records = int(records)
        self.lock = lock if lock is not None else threading.Lock()
        self.on_record = on_record
        self.commit = bool(commit)
        #: the proposed round waiting for labels (``commit=False``), once the worker is done
        self.pending = None
        self._cancel = threading.Event()
        self._stop_after = threading.Event()
        self._guard = threading.Lock()
        self._state = "ready"
        self._done = 0
        self._message = "waiting to start"
        self._step = (0, 0)
        self._error: str | None = None
        self._traceback: str | None = None
        self._t0: float | None = None
        self._t1: float | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ control
    def start(self) -> SessionWorker:
        """Start the thread (once); returns self."""
        with self._guard:
            if self._thread is not None:
                raise ConfigError("This worker was already started; make a new SessionWorker to run more rounds.")
            self._state, self._t0 = "running", time.perf_counter()
            self._thread = threading.Thread(target=self._main, name="mlal-session-worker", daemon=True)
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Abort the round in progress at its next progress report; nothing of it is stored."""
        self._cancel.set()
        self._stop_after.set()

    def stop_after_round(self) -> None:
        """Let the round in progress finish (and be stored), then stop."""
        self._stop_after.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread; True when it has ended."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def traceback(self) -> str | None:
        """The crash's traceback (state ``failed``), for logs."""
        return self._traceback

    def status(self) -> WorkerStatus:
        with self._guard:
            end = self._t1 if self._t1 is not None else time.perf_counter()
            return WorkerStatus(
                state=self._state, records_done=self._done, records_total=self.records, message=self._message,
                step_done=self._step[0], step_total=self._step[1],
                elapsed_s=0.0 if self._t0 is None else end - self._t0, error=self._error,
            )

    # ------------------------------------------------------------------ thread
    def _progress(self, done: int, total: int, message: str) -> None:
        if self._cancel.is_set():
            raise RoundCancelled("Cancelled: the round in progress was dropped; the session is at its last "
                                 "completed round.")
        with self._guard:
            self._message, self._step = message, (int(done), int(total))

    def _finish(self, state: str, message: str, error: str | None = None) -> None:
        with self._guard:
            self._state, self._message, self._error, self._t1 = state, message, error, time.perf_counter()

    def _main(self) -> None:
        session = self.session
        try:
            if session.store is not None and session.session_id is not None and not session.finished:
                session.store.set_status(session.session_id, "running")  # it may have failed before
            while self._done < self.records and not session.finished:
                if self._stop_after.is_set():
                    self._finish("cancelled", f"Stopped after {self._done} of {self.records} record(s).")
                    return
                with self.lock:
                    pending = session.propose(progress=self._progress)
                    if not (self.commit or pending.final):
                        self.pending = pending
                        self._finish("done", f"Round {pending.round}: {len(pending.selected)} picks wait for labels.")
                        return
                    self._progress(0, 0, f"Round {pending.round}: storing the round")
                    record = session.commit(pending)
                with self._guard:
                    self._done += 1
                if self.on_record is not None:
                    self.on_record(record, pending)
            self._finish("done", f"Done: {self._done} record(s) written.")
        except RoundCancelled as exc:
            self._finish("cancelled", str(exc))
        except Exception as exc:  # noqa: BLE001 - reported through status(); the thread must not die silently
            self._traceback = traceback.format_exc()
            error = f"{type(exc).__name__}: {exc}"
            if session.store is not None and session.session_id is not None:
                try:
                    session.store.set_status(session.session_id, "failed", note=error[:500])
                except Exception:  # noqa: BLE001 - never hide the original error
                    pass
            self._finish("failed", f"The round failed after {self._done} stored record(s).", error)

"""Long work in a background thread, with progress, rate, ETA and cancellation.

Fine-tuning a text backbone takes minutes per round on a laptop CPU, and embedding an unbundled text
dataset minutes more. ``SessionWorker`` runs a session's rounds and ``FeatureWorker`` prepares a
dataset's features in a thread the caller owns, so the app and the CLI stay responsive, can show
progress, and (for the app) keep working when the user moves to another page:

    worker = SessionWorker(session, records=3).start()
    while worker.running:
        print(worker.status().message)      # "Round 2: training (epoch 3 of 10, member 2 of 5)"
        time.sleep(0.5)
    worker.cancel()                          # aborts the round in progress (or stop_after_round())

Guarantees:

* Each round is stored when it completes (``session.step``: one transaction); nothing of an
  unfinished round is stored. Each finished chunk of an embedding is written to the feature cache
  at once (``features.minilm``), so a new ``FeatureWorker`` after a cancel, a reload or a kill
  resumes from the last finished chunk.
* ``cancel()`` raises ``RoundCancelled`` / ``PreparationCancelled`` from the next progress report
  (every mini-batch or epoch of training, every inference chunk, every encoded batch): the round is
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
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlal_core.errors import ConfigError, MLALError, RoundCancelled

if TYPE_CHECKING:
    from mlal_core.features import Features

#: worker states: not started, running, every record written, stopped by the user, crashed
STATES = ("ready", "running", "done", "cancelled", "failed")
#: seconds of progress reports the rate is measured over
RATE_WINDOW_S = 30.0


class PreparationCancelled(MLALError):
    """Preparing the features was cancelled; the finished chunks stay in the cache."""


@dataclass(frozen=True, kw_only=True)
class WorkerStatus:
    """A snapshot of a worker (safe to read from any thread). ``rate``: items per second of the
    current phase over the last ``RATE_WINDOW_S`` (None until measurable); ``eta_s``: seconds left
    at that rate."""

    state: str
    records_done: int
    records_total: int
    message: str
    step_done: int
    step_total: int
    elapsed_s: float
    error: str | None = None
    rate: float | None = None
    eta_s: float | None = None

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def step_fraction(self) -> float | None:
        """Progress of the current phase in [0, 1], or None when the phase reports no count."""
        return min(1.0, self.step_done / self.step_total) if self.step_total > 0 else None


class BackgroundTask:
    """A thread that runs ``_run()`` once, reports ``progress(done, total, message)`` and can be
    cancelled at its next report. Subclasses implement ``_run`` and ``_on_error``."""

    #: raised from the progress report after ``cancel()``
    cancelled_error: type[Exception] = RoundCancelled
    cancelled_message = "Cancelled."
    thread_name = "mlal-worker"

    def __init__(self, records: int = 1) -> None:
        self.records = int(records)
        self._cancel = threading.Event()
        self._guard = threading.Lock()
        self._state = "ready"
        self._done = 0
        self._message = "waiting to start"
        self._step = (0, 0)
        self._samples: deque[tuple[float, int]] = deque()
        self._error: str | None = None
        self._traceback: str | None = None
        self._t0: float | None = None
        self._t1: float | None = None
        self._thread: threading.Thread | None = None

    def start(self):
        """Start the thread (once); returns self."""
        with self._guard:
            if self._thread is not None:
                raise ConfigError(f"This {type(self).__name__} was already started; make a new one.")
            self._state, self._t0 = "running", time.perf_counter()
            self._thread = threading.Thread(target=self._main, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Abort the work in progress at its next progress report."""
        self._cancel.set()

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
            rate = eta = None
            if len(self._samples) >= 2:
                (t_a, d_a), (t_b, d_b) = self._samples[0], self._samples[-1]
                if t_b > t_a and d_b > d_a:
                    rate = (d_b - d_a) / (t_b - t_a)
                    eta = max(0.0, self._step[1] - self._step[0]) / rate
            return WorkerStatus(
                state=self._state, records_done=self._done, records_total=self.records, message=self._message,
                step_done=self._step[0], step_total=self._step[1],
                elapsed_s=0.0 if self._t0 is None else end - self._t0, error=self._error, rate=rate, eta_s=eta,
            )

    def _progress(self, done: int, total: int, message: str) -> None:
        if self._cancel.is_set():
            raise self.cancelled_error(self.cancelled_message)
        now, done, total = time.perf_counter(), int(done), int(total)
        with self._guard:
            if total != self._step[1] or done < self._step[0]:  # a new phase: measure its rate afresh
                self._samples.clear()
            self._samples.append((now, done))
            while len(self._samples) > 2 and now - self._samples[0][0] > RATE_WINDOW_S:
                self._samples.popleft()
            self._message, self._step = message, (done, total)

    def _finish(self, state: str, message: str, error: str | None = None) -> None:
        with self._guard:
            self._state, self._message, self._error, self._t1 = state, message, error, time.perf_counter()

    def _main(self) -> None:
        try:
            self._run()
        except self.cancelled_error as exc:
            self._finish("cancelled", str(exc))
        except Exception as exc:  # noqa: BLE001 - reported through status(); the thread must not die silently
            self._traceback = traceback.format_exc()
            error = f"{type(exc).__name__}: {exc}"
            self._on_error(error)
            self._finish("failed", self._failure_message(), error)

    def _run(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _on_error(self, error: str) -> None:
        """Called in the thread after a crash, before the state turns ``failed``."""

    def _failure_message(self) -> str:
        return "Failed."


class FeatureWorker(BackgroundTask):
    """Prepares the features of ``dataset`` (``features.featurize(dataset, **request)``) in the
    background; ``result`` holds the ``Features`` once the state is ``done``."""

    cancelled_error = PreparationCancelled
    cancelled_message = ("Cancelled: the features are not ready; the finished chunks are kept and a new "
                         "start resumes from them.")
    thread_name = "mlal-feature-worker"

    def __init__(self, dataset: Any, request: dict[str, Any]) -> None:
        super().__init__(records=1)
        self.dataset = dataset
        self.request = dict(request)
        self.result: Features | None = None

    def _run(self) -> None:
        from mlal_core import features

        self._progress(0, 0, f"Preparing the {self.request.get('representation', '')} features of "
                             f"{getattr(self.dataset, 'name', 'the dataset')}")
        result = features.featurize(self.dataset, progress=self._progress, **self.request)
        self.result = result
        with self._guard:
            self._done = 1
        source = result.info.get("source", "computed")
        self._finish("done", f"Features ready ({source}, {result.info.get('seconds', 0.0):.1f} s).")

    def _failure_message(self) -> str:
        return "Preparing the features failed."


class SessionWorker(BackgroundTask):
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
        super().__init__(records=records)
        self.session = session
        self.lock = lock if lock is not None else threading.Lock()
        self.on_record = on_record
        self.commit = bool(commit)
        #: the proposed round waiting for labels (``commit=False``), once the worker is done
        self.pending = None
        self._stop_after = threading.Event()

    cancelled_message = "Cancelled: the round in progress was dropped; the session is at its last completed round."
    thread_name = "mlal-session-worker"

    def cancel(self) -> None:
        """Abort the round in progress at its next progress report; nothing of it is stored."""
        super().cancel()
        self._stop_after.set()

    def stop_after_round(self) -> None:
        """Let the round in progress finish (and be stored), then stop."""
        self._stop_after.set()

    # ------------------------------------------------------------------ thread
    def _run(self) -> None:
        session = self.session
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

    def _on_error(self, error: str) -> None:
        session = self.session
        if session.store is not None and session.session_id is not None:
            try:
                session.store.set_status(session.session_id, "failed", note=error[:500])
            except Exception:  # noqa: BLE001 - never hide the original error
                pass

    def _failure_message(self) -> str:
        return f"The round failed after {self._done} stored record(s)."

"""Faults of an ``experiment`` process: workers die with their parent (``kill -9`` included), a run's
part file has one writer at a time, and a re-run right after a kill finishes every run with the
results of an uninterrupted one."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from conftest import FAST_MODEL, REPO_ROOT

from mlal_core import experiments as E
from mlal_core.errors import ConfigError
from mlal_core.experiments import lock as lock_module
from mlal_core.experiments.lock import PartLock
from mlal_core.experiments.parts import merge_finished_parts, part_path, parts_dir
from mlal_core.session.loop import ActiveLearningSession
from mlal_core.session.store import SessionStore

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to follow processes")


# ============================================================================ helpers
def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, which no one reaped yet, has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"


def descendants(pid: int) -> list[int]:
    """The processes below ``pid``, read from ``/proc/<pid>/task/*/children``."""
    found: list[int] = []
    queue = [pid]
    while queue:
        p = queue.pop(0)
        for children in Path(f"/proc/{p}/task").glob("*/children"):
            try:
                below = [int(c) for c in children.read_text().split()]
            except OSError:
                continue
            found.extend(below)
            queue.extend(below)
    return found


def wait_until_dead(pids: list[int], timeout: float) -> tuple[list[int], float]:
    """(the pids still alive after ``timeout`` s, the seconds it took them all to end)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        left = [p for p in pids if alive(p)]
        if not left:
            return [], time.monotonic() - t0
        time.sleep(0.05)
    return [p for p in pids if alive(p)], time.monotonic() - t0


def kill_all(pids: list[int]) -> None:
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass


def python(code: str, *args: str, stderr: Path | None = None) -> subprocess.Popen:
    """A Python process running ``code`` from the repository root, its stdout piped (stderr to a file)."""
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True,
                            stderr=None if stderr is None else stderr.open("w"))


def stored_rounds(store_path: Path) -> dict[str, list[tuple]]:
    """run key -> (round, n_labeled, picks, metrics) of each record of its finished session."""
    con = sqlite3.connect(f"{store_path.as_uri()}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT s.name, r.round, r.n_labeled, r.selected_json, r.metrics_json FROM sessions s "
            "JOIN rounds r ON r.session_id = s.id WHERE s.status = 'finished' ORDER BY s.name, r.round"
        ).fetchall()
    finally:
        con.close()
    out: dict[str, list[tuple]] = {}
    for name, rnd, n, picks, metrics in rows:  # metrics as sorted JSON text: NaN equals NaN
        out.setdefault(name.split()[1], []).append(
            (rnd, n, json.loads(picks or "null"), json.dumps(json.loads(metrics), sort_keys=True)))
    return out


def part_rounds(part: Path) -> int:
    """Rounds stored in a part file that a worker may be writing (0 when it cannot be read yet)."""
    try:
        con = sqlite3.connect(f"{part.as_uri()}?mode=ro", uri=True, timeout=1.0)
        try:
            return int(con.execute("SELECT COUNT(*) FROM rounds").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:
        return 0


# ============================================================================ workers die with their parent
_POOL_PARENT = """
import functools, multiprocessing as mp, os, sys, time
from concurrent.futures import ProcessPoolExecutor
from mlal_core.experiments.tasks import exit_with_parent

kernel = sys.argv[1] == "1"  # then a watchdog too slow to matter: the kernel's signal must do it
bound = functools.partial(exit_with_parent, death_signal=kernel, poll_s=60.0 if kernel else 0.5)
pool = ProcessPoolExecutor(1, mp_context=mp.get_context("spawn"), initializer=bound, initargs=(os.getpid(),))
worker = pool.submit(os.getpid).result()
grandchild = pool.submit(os.posix_spawnp, "sleep", ["sleep", "120"], dict(os.environ)).result()
print(worker, grandchild, flush=True)
pool.submit(time.sleep, 120)
time.sleep(120)
"""


@pytest.mark.slow
@pytest.mark.parametrize("death_signal", [True, False], ids=["kernel-signal", "watchdog-only"])
def test_a_pool_worker_ends_when_its_parent_is_killed(death_signal, tmp_path):
    # (its stderr to a file: the killed parent's resource tracker reports the pool's semaphores)
    parent = python(_POOL_PARENT, "1" if death_signal else "0", stderr=tmp_path / "stderr.txt")
    worker = grandchild = -1
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline()
        assert line, (tmp_path / "stderr.txt").read_text()
        worker, grandchild = map(int, line.split())
        time.sleep(0.3)  # the worker is idle in its queue, its watchdog asleep
        assert alive(worker) and alive(grandchild)
        parent.kill()
        parent.wait()
        left, took = wait_until_dead([worker], timeout=5.0)
        assert not left, f"the worker {worker} outlived its killed parent"
        assert took < (1.0 if death_signal else 3.0)
        if not death_signal:  # the watchdog kills the worker's own children before it ends
            assert not wait_until_dead([grandchild], timeout=2.0)[0]
    finally:
        parent.kill()
        kill_all([worker, grandchild])


@pytest.mark.slow
def test_a_worker_whose_parent_is_already_gone_ends_at_once():
    """The race: the parent dies before the worker asked the kernel for the signal."""
    code = ("import os, sys, time\nfrom mlal_core.experiments.tasks import exit_with_parent\n"
            "exit_with_parent(os.getppid() + 10**7)\nprint('still here', flush=True)\ntime.sleep(30)\n")
    child = python(code)
    try:
        assert child.wait(timeout=20) == 1
        assert child.stdout is not None and child.stdout.read() == ""
    finally:
        child.kill()


# ============================================================================ one writer per part file
_HOLDER = """
import sys, time
from pathlib import Path
from mlal_core.experiments.lock import PartLock
held = [PartLock(Path(p)).acquire(0) for p in sys.argv[1:]]
print("held", flush=True)
time.sleep(120)
"""


def tiny_config(tmp_path: Path, **kw) -> dict:
    """The smallest grid: emotions (349 pool rows, raw features), a 2-member ensemble, 3 rounds."""
    cfg = {"name": "faults", "store": str(tmp_path / "faults.sqlite"), "datasets": ["emotions"],
           "models": [{"name": "mlp_ensemble", "params": dict(FAST_MODEL)}], "strategies": ["random"],
           "seeds": [0], "initial_size": 20, "query_size": 10, "rounds": 3, "reference": False}
    cfg.update(kw)
    return cfg


@pytest.mark.slow
def test_a_part_file_has_one_writer_and_its_lock_dies_with_the_holder(tmp_path, monkeypatch):
    cfg = E.ExperimentConfig.from_dict(tiny_config(tmp_path, seeds=[0, 1]))
    done, cut = cfg.plan().runs
    done_part, cut_part = (part_path(cfg.store_path(), r.key) for r in (done, cut))
    # as a parent killed before merging leaves them: a finished run, and one cut short after a round
    ActiveLearningSession(done.config, store=SessionStore(done_part)).run()
    ActiveLearningSession(cut.config, store=SessionStore(cut_part)).run(rounds=1)
    holder = python(_HOLDER, str(done_part), str(cut_part))
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        # a second holder is refused, naming the run and the holder's pid, after waiting
        t0 = time.monotonic()
        with pytest.raises(ConfigError, match=rf"Run {cut.key} is being written by another process "
                                              rf"\(pid {holder.pid}\)"):
            PartLock(cut_part).acquire(wait_s=0.5)
        assert time.monotonic() - t0 >= 0.5
        # the merge on start leaves a finished part that a live process holds
        assert merge_finished_parts(SessionStore(cfg.store_path()), cfg.store_path()) == 0
        assert done_part.exists()
        # a worker that reaches a held run refuses it with one message (no traceback) and writes nothing
        monkeypatch.setattr(lock_module, "PART_LOCK_WAIT_S", 0.5)
        busy = E.run_experiment(cfg, workers=0)
        assert busy.executed == [] and len(busy.failed) == 2
        refusal = {f["key"]: f["error"] for f in busy.failed}[cut.key]
        assert refusal.startswith(f"ConfigError: Run {cut.key} is being written by another process (pid {holder.pid})")
        assert part_rounds(cut_part) == 1
        # a waiting holder gets the lock as soon as the holder dies (kill -9: the kernel releases it)
        threading.Timer(0.5, holder.kill).start()
        t0 = time.monotonic()
        with PartLock(cut_part).acquire(wait_s=20):
            waited = time.monotonic() - t0
        assert 0.4 < waited < 5
    finally:
        holder.kill()
        holder.wait()
    out = E.run_experiment(cfg, workers=0)
    assert out.ok and out.merged_on_start == 1 and out.already_done == 1
    assert out.executed[0]["key"] == cut.key and out.executed[0]["resumed_at"] == 1
    for part in (done_part, cut_part):
        assert not part.exists() and not part.with_name(part.name + ".lock").exists()


def test_a_lock_file_deleted_by_its_releasing_holder_is_not_held_twice(tmp_path, monkeypatch):
    """A holder deletes the lock file as it releases it (after a merge). A waiter that opened the old
    file just before must not keep a lock on the deleted file: a third process would lock the new file
    at the same time, and two writers would both believe they hold the run."""
    part = tmp_path / "k.sqlite"
    first = PartLock(part).acquire(0)
    real_open = open
    opened: list[str] = []

    def open_then_holder_releases(path, *args, **kwargs):
        fh = real_open(path, *args, **kwargs)
        if not opened:  # between the waiter's open and its flock, the holder releases and deletes
            first.release(remove=True)
        opened.append(str(path))
        return fh

    monkeypatch.setattr(lock_module, "open", open_then_holder_releases, raising=False)
    second = PartLock(part).acquire(0)
    monkeypatch.undo()
    assert len(opened) == 2  # the deleted file was let go, the new one locked
    assert second.path.read_text() == str(os.getpid())
    assert second.fh is not None and os.path.samestat(os.fstat(second.fh.fileno()), os.stat(second.path))
    assert not PartLock(part).try_acquire()  # a third one is refused
    second.release(remove=True)
    assert not second.path.exists() and PartLock(part).try_acquire()


# ============================================================================ kill -9 of the experiment parent
@pytest.mark.slow
def test_kill_9_of_the_experiment_parent_leaves_no_worker_and_a_rerun_finishes(tmp_path):
    import torch

    # 4 runs on 2 workers: two queued, as the orphans of the bug took them
    data = tiny_config(tmp_path, strategies=["random", "entropy"], seeds=[0, 1], rounds=4, workers=2)
    cfg_file = tmp_path / "faults.yaml"
    cfg_file.write_text(yaml.safe_dump(data))
    cfg = E.load_config(cfg_file)
    command = [sys.executable, "-m", "mlal_core", "experiment", str(cfg_file), "--quiet"]
    log = (tmp_path / "first.log").open("w")
    parent = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
    below: list[int] = []
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:  # until a worker has stored a round of a run
            parts = list(parts_dir(cfg.store_path()).glob("*.sqlite"))
            if any(part_rounds(p) >= 1 for p in parts) and len(descendants(parent.pid)) >= 2:
                break
            assert parent.poll() is None, (tmp_path / "first.log").read_text()
            time.sleep(0.1)
        else:
            pytest.fail("the workers stored no round in 240 s")
        below = descendants(parent.pid)  # the workers and multiprocessing's resource tracker
        parent.kill()
        parent.wait()
        left, took = wait_until_dead(below, timeout=10.0)
        assert not left, f"processes {left} outlived the killed experiment parent"
        print(f"{len(below)} processes ended {took:.2f} s after the parent's kill -9")
    finally:
        parent.kill()
        log.close()
        kill_all(below)

    rerun = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=400, check=False)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "Traceback" not in rerun.stderr
    got = stored_rounds(cfg.store_path())
    assert set(got) == {r.key for r in cfg.plan().runs}
    # the same grid uninterrupted, in this process at the workers' thread count
    reference = E.ExperimentConfig.from_dict({**data, "store": str(tmp_path / "uninterrupted.sqlite")})
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert E.run_experiment(reference, workers=0).ok
    finally:
        torch.set_num_threads(before)
    expected = stored_rounds(reference.store_path())
    assert len(expected) == 4 and all(len(v) == 5 for v in expected.values())  # 4 rounds + the final record
    assert got == expected

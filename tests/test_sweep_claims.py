"""Cell claims: one holder at a time, dead or silent holders taken over, real races between processes."""
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import time

from sweep.store import claims, layout


def _write_claim(path, **info):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump({"host": socket.gethostname(), "pid": os.getpid(), "token": "x", "since": 0, **info}, f)


def _dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_held_claim_is_not_given_twice_and_is_released(tmp_path):
    path = layout.claim_path(str(tmp_path), "cell-a")
    first = claims.try_claim(path)
    assert first is not None
    assert claims.try_claim(path) is None  # held by a live process (this one)
    first.release()
    assert not os.path.exists(path)
    assert claims.try_claim(path) is not None


def test_a_claim_of_a_dead_process_is_taken_over(tmp_path):
    path = layout.claim_path(str(tmp_path), "cell-b")
    _write_claim(path, pid=_dead_pid())
    taken = []
    claim = claims.try_claim(path, log=taken.append)
    assert claim is not None and "taking over cell-b" in taken[0]
    assert json.load(open(path))["pid"] == os.getpid()


def test_another_hosts_claim_is_taken_over_only_after_its_heartbeat_timeout(tmp_path):
    path = layout.claim_path(str(tmp_path), "cell-c")
    _write_claim(path, host="some-other-machine", pid=1)
    assert claims.try_claim(path, stale_after=60) is None  # fresh heartbeat: still working
    old = time.time() - 120
    os.utime(path, (old, old))
    assert claims.try_claim(path, stale_after=60) is not None


def test_a_corrupt_claim_blocks_until_stale_and_release_never_removes_a_foreign_claim(tmp_path):
    path = layout.claim_path(str(tmp_path), "cell-d")
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as f:
        f.write('{"host": "half-writ')
    assert claims.try_claim(path, stale_after=60) is None
    old = time.time() - 120
    os.utime(path, (old, old))
    mine = claims.try_claim(path, stale_after=60)
    assert mine is not None
    _write_claim(path, token="someone-else")  # e.g. taken over after we went silent
    mine.release()
    assert json.load(open(path))["token"] == "someone-else"


def _claim_all(folder, units, queue, done):
    won = []
    for unit in units:
        claim = claims.try_claim(layout.claim_path(folder, unit))
        if claim is not None:
            won.append(unit)  # held, never released: each unit can be won once only
    queue.put(won)
    done.wait(60)  # stay alive until every racer reported, so no claim turns stale mid-race


def test_racing_processes_win_each_unit_exactly_once(tmp_path):
    units = [f"cell-{i}" for i in range(40)]
    context = multiprocessing.get_context("fork")
    queue, done = context.Queue(), context.Event()
    racers = [context.Process(target=_claim_all, args=(str(tmp_path), units, queue, done)) for _ in range(6)]
    for racer in racers:
        racer.start()
    won = [unit for _ in racers for unit in queue.get(timeout=60)]
    done.set()
    for racer in racers:
        racer.join()
    assert sorted(won) == sorted(units)

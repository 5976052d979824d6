"""Cell claims: a runner claims a cell before it starts it, so concurrent runners never run one twice.

results/<sweep>/claims/<cell id>.json holds {host, pid, token, since}; its modification time is
the holder's heartbeat. A claim is taken over when its holder is gone: its process no longer
exists (same host), or its heartbeat is older than `stale_after` seconds (any host, e.g. a
preempted machine sharing the results directory). Checking and taking over happen under an
exclusive `fcntl.flock` on claims/.lock, so two runners can never both take the same stale claim;
the kernel drops that lock with its process, so a killed runner never leaves it held.
Needs a POSIX filesystem with working flock (local disk, NFSv4); no TensorFlow.
"""
import contextlib
import fcntl
import json
import os
import socket
import time
import uuid

from common.storage import write_json_atomic

STALE_AFTER = 600.0
HEARTBEAT_EVERY = 10.0


def process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


@contextlib.contextmanager
def _claims_lock(folder):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def holder(path):
    """(claim info or None if unreadable, seconds since its heartbeat), or None when unclaimed."""
    try:
        age = time.time() - os.stat(path).st_mtime
    except FileNotFoundError:
        return None
    try:
        with open(path) as f:
            info = json.load(f)
        return (info if isinstance(info, dict) else None), age
    except (OSError, ValueError):  # corrupt: stale once its heartbeat is old enough
        return None, age


def is_stale(info, age, stale_after=STALE_AFTER):
    if info and info.get("host") == socket.gethostname() and not process_alive(info.get("pid", -1)):
        return True
    return age > stale_after


class Claim:
    """A held claim; `heartbeat()` while working, `release()` when done (also as a context manager)."""

    def __init__(self, path, token):
        self.path, self.token = path, token

    def heartbeat(self):
        with contextlib.suppress(OSError):
            os.utime(self.path)

    def release(self):
        with _claims_lock(os.path.dirname(self.path)):
            found = holder(self.path)
            if found and found[0] and found[0].get("token") == self.token:
                os.remove(self.path)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def try_claim(path, stale_after=STALE_AFTER, log=None):
    """A Claim on `path`, or None while a live holder has it (a stale holder's claim is taken over)."""
    folder = os.path.dirname(path)
    with _claims_lock(folder):
        found = holder(path)
        if found is not None:
            info, age = found
            if not is_stale(info, age, stale_after):
                return None
            if log:
                who = f"{info.get('host')}:{info.get('pid')}" if info else "an unreadable claim"
                log(f"taking over {os.path.basename(path)[:-5]} from {who} (gone or silent for {age:.0f} s)")
        token = uuid.uuid4().hex
        write_json_atomic(path, {"host": socket.gethostname(), "pid": os.getpid(), "token": token,
                                 "since": time.time()}, indent=None)
        return Claim(path, token)


class Unclaimed:
    """The claim of a unit nobody else can run (a job array gives each cell to one task): nothing to hold."""

    def heartbeat(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

"""Preemption between two steps (detection/preemption.py): the flag, the chunked loop, the save."""
import json
import os
import signal

import pytest
import tensorflow as tf

from detection import preemption


@pytest.fixture(autouse=True)
def _clean_flag():
    preemption._requested.clear()
    preemption._received.clear()
    yield
    preemption._requested.clear()
    preemption._received.clear()


class _Loop:
    """A stand-in for orbit's compiled loop: counts steps; raises the flag after `signal_after` steps."""

    def __init__(self, signal_after=None):
        self.steps, self.calls, self.signal_after = 0, [], signal_after

    def __call__(self, iterator, num_steps):
        assert isinstance(num_steps, tf.Tensor)  # orbit's tf.while_loop needs a tensor
        n = int(num_steps)
        self.calls.append(n)
        self.steps += n
        if self.signal_after is not None and self.steps >= self.signal_after:
            preemption._on_signal(signal.SIGUSR1, None)


def test_without_a_signal_every_step_runs():
    loop = _Loop()
    preemption.StopBetweenSteps(loop, steps=7)(None, tf.constant(30))
    assert loop.steps == 30 and loop.calls == [7, 7, 7, 7, 2]


def test_a_signal_stops_the_loop_at_the_end_of_the_current_chunk():
    loop = _Loop(signal_after=10)
    preemption.StopBetweenSteps(loop, steps=4)(None, tf.constant(100))
    assert loop.steps == 12  # the chunk that saw the signal ends, nothing after it


def test_a_signal_before_the_loop_runs_no_step():
    preemption._on_signal(signal.SIGTERM, None)
    loop = _Loop()
    preemption.StopBetweenSteps(loop)(None, tf.constant(100))
    assert loop.steps == 0


def test_chunks_follow_the_measured_step_time():
    """The first chunk is one step (tracing); later ones last about CHUNK_SECONDS (10 s)."""
    clock = iter([0.0, 0.5, 1.0, 2.0, 2.0, 12.0, 12.0, 21.0])
    loop = _Loop()
    preemption.StopBetweenSteps(loop, clock=lambda: next(clock))(None, tf.constant(401))
    assert loop.calls == [1, 20, 200, 180]  # 0.5 s/step -> 20 steps; 0.05 s/step -> 200; then what is left


def test_workers_agree_on_stopping():
    """Multi-worker: a worker stops when any worker has the flag (the all-reduce), not only its own."""
    seen = []

    def agree(flag):
        seen.append(flag)
        return len(seen) >= 3  # another worker got the signal before the third check
    loop = _Loop()
    preemption.StopBetweenSteps(loop, agree=agree, steps=5)(None, tf.constant(100))
    assert loop.steps == 10 and seen == [False, False, False]


def test_agree_across_workers_reduces_the_flags_of_every_replica():
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    agree = preemption.agree_across_workers(strategy)
    assert agree(False) is False and agree(True) is True


class _Manager:
    def __init__(self):
        self.saved = []

    def save(self, checkpoint_number, check_interval=True):
        self.saved.append(checkpoint_number)


def test_the_action_saves_records_and_raises_only_after_a_signal(tmp_path):
    manager, step = _Manager(), tf.Variable(17, dtype=tf.int64)
    action = preemption.CheckpointOnSignal(manager, step, str(tmp_path))
    action({})
    assert manager.saved == [] and not (tmp_path / preemption.RECORD_FILE).exists()
    preemption._on_signal(signal.SIGUSR1, None)
    with pytest.raises(preemption.Preempted, match="preempted at step 17"):
        action({})
    records = json.loads((tmp_path / preemption.RECORD_FILE).read_text())
    assert manager.saved == [17]
    assert records[0]["signal"] == "SIGUSR1" and records[0]["saved_step"] == 17
    assert 0 <= records[0]["seconds_to_save"] < 60
    assert preemption.read_records(str(tmp_path)) == records


def test_the_save_on_a_signal_ignores_the_periodic_checkpoint_interval(tmp_path):
    """Model Garden's manager saves every `checkpoint_interval` steps and skips a save closer to the
    last one; the signal's save must happen anyway, or the requeued run falls back to the last periodic one."""
    step = tf.Variable(4, dtype=tf.int64)
    checkpoint = tf.train.Checkpoint(step=step)
    manager = tf.train.CheckpointManager(checkpoint, str(tmp_path), max_to_keep=None, step_counter=step,
                                         checkpoint_interval=8)
    manager.save(checkpoint_number=4)
    step.assign(8)
    preemption._on_signal(signal.SIGUSR1, None)
    with pytest.raises(preemption.Preempted, match="preempted at step 8"):
        preemption.CheckpointOnSignal(manager, step)({})
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith("ckpt-8")


def test_a_non_chief_saves_but_records_nothing(tmp_path):
    manager = _Manager()
    preemption._on_signal(signal.SIGTERM, None)
    with pytest.raises(preemption.Preempted):
        preemption.CheckpointOnSignal(manager, tf.Variable(3, dtype=tf.int64), None)({})
    assert manager.saved == [3] and os.listdir(tmp_path) == []


def test_install_turns_both_signals_into_the_flag():
    previous = {s: signal.getsignal(s) for s in preemption.SIGNALS}
    try:
        preemption.install()
        os.kill(os.getpid(), signal.SIGUSR1)
        assert preemption.requested() and preemption.received()["signal"] == "SIGUSR1"
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

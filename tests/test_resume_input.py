"""A resumed run's input stream skips serialized records before decoding and continues exactly where
the uninterrupted stream was (the same batches, so the same AP after a kill)."""
import numpy as np
import pytest
from official.core import task_factory

from detection import resume_input
from tests.detection_data import tiny_dataset, tiny_experiment


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    config = tiny_experiment("frn_retinanet_embedded", tiny_dataset(tmp_path_factory.mktemp("resume") / "data"))
    config.task.train_data.deterministic = True
    config.task.train_data.seed = 7
    return config


def _batches(config, resume_step, count):
    task = task_factory.get_task(config.task)
    task.resume_step = resume_step
    dataset = task.build_inputs(config.task.train_data)
    return [(images.numpy(), labels["cls_weights"].numpy()) for images, labels in dataset.take(count)]


@pytest.mark.parametrize("resume_step", [3, 11])  # 11 x 4 images: past the 32-image epoch (reshuffled)
def test_resumed_stream_equals_the_uninterrupted_one(config, resume_step):
    full = _batches(config, 0, resume_step + 3)
    resumed = _batches(config, resume_step, 3)
    for (images, weights), (expected_images, expected_weights) in zip(resumed, full[resume_step:]):
        np.testing.assert_array_equal(images, expected_images)
        np.testing.assert_array_equal(weights, expected_weights)
    assert not np.array_equal(resumed[0][0], full[0][0])  # it did skip


def test_records_are_skipped_before_decoding(config, monkeypatch):
    """The skip happens on serialized records, not on decoded batches (which would decode them all)."""
    seen = []
    original = resume_input.skip_records_before_decoding

    def spy(records):
        manager = original(records)

        class Spy:
            def __enter__(self):
                self.applied = manager.__enter__()
                return self.applied

            def __exit__(self, *exc):
                seen.append(list(self.applied))
                return manager.__exit__(*exc)
        return Spy()

    from detection import tasks
    monkeypatch.setattr(tasks, "skip_records_before_decoding", spy)
    _batches(config, 5, 1)
    assert seen == [[5 * config.task.train_data.global_batch_size]]

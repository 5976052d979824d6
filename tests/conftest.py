"""Test environment: Keras 2 everywhere (as Model Garden needs), CPU only, quiet logs."""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

# Two logical CPU devices so tests can run a 2-replica MirroredStrategy (per-replica BN).
# This must happen before TensorFlow initializes its devices.
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0],
    [tf.config.LogicalDeviceConfiguration()] * 2)


@pytest.fixture
def policy():
    """Sets a global tf_keras dtype policy for one test and restores float32 after it."""
    def set_policy(name):
        tf_keras.mixed_precision.set_global_policy(name)
    yield set_policy
    tf_keras.mixed_precision.set_global_policy("float32")


@pytest.fixture(autouse=True)
def _seed():
    tf.random.set_seed(0)
    tf_keras.utils.set_random_seed(0)

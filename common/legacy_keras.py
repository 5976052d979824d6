"""The one environment switch every entry point sets before TensorFlow is imported.

Model Garden 2.20 is built on tf_keras (Keras 2); with TF_USE_LEGACY_KERAS=1 `tf.keras` is Keras 2
too, so a layer that reaches Model Garden through `tf.keras` is trained (a Keras 3 layer inside a
tf_keras model builds, but its weights are not).
"""
import os


def use_legacy_keras():
    """Sets TF_USE_LEGACY_KERAS=1 and quiet C++ logs unless the caller chose otherwise."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

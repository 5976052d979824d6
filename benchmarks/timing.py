"""Shared timing for the benchmark scripts: environment, compiled fwd+bwd steps, medians."""
import os
import statistics
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tensorflow as tf  # noqa: E402


def fwd_bwd_step(model, jit_compile=False):
    """One forward + backward pass (input and weight gradients) of `model`, as a tf.function."""
    @tf.function(jit_compile=jit_compile)
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            outputs = model(x, training=True)
            loss = tf.add_n([tf.reduce_sum(t) for t in tf.nest.flatten(outputs)])
        return tape.gradient(loss, [x] + model.trainable_weights)
    return step


def median_seconds(step, x, repeats, inner, warmup=3):
    """Median over `repeats` of the mean time of `inner` calls, after tracing and warm-up."""
    for _ in range(warmup):
        tf.nest.map_structure(lambda t: t.numpy(), step(x))
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            out = step(x)
        tf.nest.map_structure(lambda t: t.numpy(), out)
        samples.append((time.perf_counter() - start) / inner)
    return statistics.median(samples)


def header(what):
    threads = tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()
    print(f"{what}; TF {tf.__version__}, {threads} CPU threads")

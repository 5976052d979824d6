"""Shared timing for the benchmark scripts: environment, compiled fwd+bwd steps, medians."""
import os
import statistics
import time

from common.legacy_keras import use_legacy_keras

use_legacy_keras()
if os.environ.get("BENCH_DEVICE", "cpu") == "cpu":  # CPU figures unless a script asks for the GPU (gpu_check)
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")

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


def median_seconds(call, repeats, inner, warmup=3):
    """Median over `repeats` of the mean time of `inner` calls of `call()`, after tracing and warm-up.

    The last call's outputs are fetched (numpy) before the clock stops, so queued work is counted.
    """
    for _ in range(warmup):
        tf.nest.map_structure(lambda t: t.numpy(), call())
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            out = call()
        tf.nest.map_structure(lambda t: t.numpy(), out)
        samples.append((time.perf_counter() - start) / inner)
    return statistics.median(samples)


def header(what):
    threads = tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()
    print(f"{what}; TF {tf.__version__}, {threads} CPU threads")

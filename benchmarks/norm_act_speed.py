"""Forward+backward time of each norm+act unit, as a ratio to BN+ReLU in the same run.

Target (issue 2): frn (FRN+TLU) <= 1.10x bn+relu with XLA on CPU.

    python benchmarks/norm_act_speed.py                 # 8x56x56x256 float32, all norms
    python benchmarks/norm_act_speed.py --norms bn,frn,gn --shape 8,28,28,256
"""
import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tensorflow as tf  # noqa: E402

from norm_layers import NORMS, get_norm_act  # noqa: E402


def step_fn(unit, jit_compile):
    """One forward + backward pass (input and weight gradients), compiled once."""
    @tf.function(jit_compile=jit_compile)
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(unit(x, training=True))
        return tape.gradient(loss, [x] + unit.trainable_weights)
    return step


def time_unit(name, shape, jit_compile, repeats, inner):
    unit = get_norm_act(name)(shape[-1])
    x = tf.random.normal(shape)
    step = step_fn(unit, jit_compile)
    for _ in range(3):  # trace, compile, warm up
        tf.nest.map_structure(lambda t: t.numpy(), step(x))
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            out = step(x)
        out[0].numpy()
        samples.append((time.perf_counter() - start) / inner)
    return statistics.median(samples)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--norms", default=",".join(NORMS), help="comma-separated names; bn is always measured")
    parser.add_argument("--shape", default="8,56,56,256", help="NHWC input shape")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--inner", type=int, default=5)
    args = parser.parse_args()
    shape = [int(s) for s in args.shape.split(",")]
    norms = ["bn"] + [n for n in args.norms.split(",") if n != "bn"]
    print(f"shape {shape} float32, {tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()} "
          f"threads, median of {args.repeats}x{args.inner} fwd+bwd steps, TF {tf.__version__}")
    print(f"{'unit':<18}{'graph ms':>10}{'ratio':>8}{'xla ms':>10}{'ratio':>8}")
    results = {}
    for name in norms:
        results[name] = [time_unit(name, shape, jit, args.repeats, args.inner) * 1e3 for jit in (False, True)]
    base = results["bn"]
    for name in norms:
        graph, xla = results[name]
        label = f"{name}+{get_norm_act(name).act}"
        print(f"{label:<18}{graph:>10.2f}{graph / base[0]:>8.2f}{xla:>10.2f}{xla / base[1]:>8.2f}")


if __name__ == "__main__":
    main()

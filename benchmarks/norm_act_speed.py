"""Forward+backward time of each norm+act unit, as a ratio to BN+ReLU in the same run.

Targets: frn (FRN+TLU, the fused op of norm_layers/frn_ops.py) <= 1.5x bn+relu in graph mode and
<= 1.0x with XLA, on CPU. On a shared 2-core VM the graph ratio moves by +-0.15 between runs:
raise --repeats and compare several runs.

    python -m benchmarks.norm_act_speed                 # 8x56x56x256 float32, all norms
    python -m benchmarks.norm_act_speed --norms bn,frn,gn --shape 8,28,28,256
"""
import argparse

import tensorflow as tf  # noqa: E402  (after timing set the environment)

from benchmarks.timing import fwd_bwd_step, header, median_seconds
from norm_layers import NORMS, get_norm_act  # noqa: E402


def time_unit(name, shape, jit_compile, repeats, inner):
    step, x = fwd_bwd_step(get_norm_act(name)(shape[-1]), jit_compile), tf.random.normal(shape)
    return median_seconds(lambda: step(x), repeats, inner)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--norms", default=",".join(NORMS), help="comma-separated names; bn is always measured")
    parser.add_argument("--shape", default="8,56,56,256", help="NHWC input shape")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--inner", type=int, default=5)
    args = parser.parse_args()
    shape = [int(s) for s in args.shape.split(",")]
    norms = ["bn"] + [n for n in args.norms.split(",") if n != "bn"]
    header(f"shape {shape} float32, median of {args.repeats}x{args.inner} fwd+bwd steps")
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

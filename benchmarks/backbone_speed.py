"""Forward+backward time of each backbone with each norm, as a ratio to its BN version.

Measured in one run, graph mode (tf.function), float32, on a CPU-sized input:

    python -m benchmarks.backbone_speed                       # full-size backbones, 2x128x128
    python -m benchmarks.backbone_speed --variant small --batch 8 --norms bn,gn,frn,ln
"""
import argparse

import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

from backbones.registration import BACKBONES  # noqa: E402
from benchmarks.timing import fwd_bwd_step, header, median_seconds
from norm_layers import get_norm_act  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", default=",".join(BACKBONES))
    parser.add_argument("--norms", default="bn,gn,frn,evonorm_b0,evonorm_s0,gn_ws",
                        help="bn is always measured: it is the baseline")
    parser.add_argument("--variant", default="full", choices=["full", "small"])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--inner", type=int, default=2)
    args = parser.parse_args()
    norms = ["bn"] + [n for n in args.norms.split(",") if n != "bn"]
    header(f"{args.variant} backbones, input {args.batch}x{args.size}x{args.size}x3 float32, "
           f"median of {args.repeats}x{args.inner} fwd+bwd steps")
    width = {n: max(12, len(n) + 5) for n in norms}
    print(f"{'backbone':<14}" + "".join(f"{n + ' ms':>{width[n]}}{'x bn':>7}" for n in norms))
    x = tf.random.normal([args.batch, args.size, args.size, 3])
    spec = tf_keras.layers.InputSpec(shape=[None, args.size, args.size, 3])
    for arch in args.archs.split(","):
        times = {}
        for norm in norms:
            model = BACKBONES[arch](spec, variant=args.variant, norm_act=get_norm_act(norm))
            step = fwd_bwd_step(model)
            times[norm] = median_seconds(lambda step=step: step(x), args.repeats, args.inner) * 1e3
        print(f"{arch:<14}" + "".join(f"{times[n]:>{width[n]}.1f}{times[n] / times['bn']:>7.2f}" for n in norms),
              flush=True)


if __name__ == "__main__":
    main()

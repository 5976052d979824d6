"""The GPU benchmark, in one run on one accelerator machine (about 10 minutes on one GPU).

    python -m benchmarks.gpu_check            # on the GPU machine
    python -m benchmarks.gpu_check --smoke    # on CPU in under 2 minutes: checks the script itself (CI)
    python -m benchmarks.gpu_check --out step_times.json   # also write the step times for
        run_sweep.py plan/submit --step-seconds step_times.json (GPU-hours and wall time of a sweep)
Prints:
1. RetinaNet R50-FPN train-step time at 640 px (batch 8 per GPU): stock Model Garden BN
   (`retinanet_resnetfpn_coco`), our BN, FRN and GN, in float32 and bfloat16, without and with XLA;
   the ratios our BN / stock and FRN / BN, GN / BN (targets: <= 1.03, <= 1.05).
2. A 200-step embedded FRN cell with `replicas: 8` on this one GPU (8 logical GPUs: per-replica
   statistics as on 8 devices, detection/strategy.py) and its training images/s.
--smoke: the same code on CPU with the smallest models (stock ResNet-18, our CPU-sized backbone,
1-conv heads) at 128 px, batch 1, 3 steps timed, XLA on our BN only, and a 6-step embedded cell with
2 CPU replicas evaluated on one batch.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

SMOKE = "--smoke" in sys.argv
os.environ["BENCH_DEVICE"] = "cpu" if SMOKE else "gpu"  # read by benchmarks.timing on import

import tensorflow as tf  # noqa: E402
from official.core import task_factory  # noqa: E402
from official.vision.tasks import retinanet as stock_retinanet  # noqa: E402

from benchmarks.detector_step_speed import _config, _set_norm, time_step  # noqa: E402
from benchmarks.timing import header  # noqa: E402
from common.paths import REPO_ROOT  # noqa: E402
from detection.data import embedded  # noqa: E402

VARIANTS = ("stock MG bn", "bn", "frn", "gn")


def _shrink(config, stock):
    """--smoke: the smallest models of the same code paths (stock ResNet-18 with a 1-conv head,
    our CPU-sized backbone), so the script is checked in CI within its time."""
    if stock:
        config.task.model.backbone.resnet.model_id = 18
    else:
        config.task.model.backbone.resnet_v1.variant = "small"
    config.task.model.head.num_convs = 1


def step_times(data, size, batch, dtypes, xla_modes, repeats, inner, xla_variants=VARIANTS):
    """{(dtype, xla): {variant: seconds}}, measured one after another in this process."""
    found = {}
    for dtype in dtypes:
        for xla in xla_modes:
            if SMOKE and xla and dtype != dtypes[0]:
                continue  # the XLA path once is enough to check the script
            times = {}
            for variant in (xla_variants if xla else VARIANTS):
                if variant == "stock MG bn":
                    config = _config("retinanet_resnetfpn_coco", size, batch, data, dtype)
                    if SMOKE:
                        _shrink(config, stock=True)
                    task = stock_retinanet.RetinaNetTask(config.task)
                else:
                    config = _config("frn_retinanet_coco", size, batch, data, dtype)
                    if SMOKE:
                        _shrink(config, stock=False)
                    _set_norm(config, variant)
                    task = task_factory.get_task(config.task)
                times[variant] = time_step(task, config, repeats, inner, jit_compile=xla)
            found[(dtype, xla)] = times
            print(_line(dtype, xla, times), flush=True)
    return found


def _line(dtype, xla, times):
    parts = ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in times.items())
    ratios = []
    if "stock MG bn" in times and "bn" in times:
        ratios.append(f"our bn/stock {times['bn'] / times['stock MG bn']:.3f}")
    for norm in ("frn", "gn"):
        if norm in times and "bn" in times:
            ratios.append(f"{norm}/bn {times[norm] / times['bn']:.3f}")
    return f"{dtype:>8} {'xla' if xla else 'graph':>5}: {parts}; " + ", ".join(ratios)


def embedded_cell(replicas, steps, batch):
    """Trains one embedded FRN cell in a child process (devices are laid out before TF starts);
    returns its metrics (images_per_second, AP)."""
    run_dir = tempfile.mkdtemp(prefix="gpu_check_cell_")
    overrides = [f"trainer.train_steps={steps}", f"trainer.validation_interval={steps}",
                 f"trainer.checkpoint_interval={steps}", f"trainer.steps_per_loop={max(1, steps // 4)}",
                 f"trainer.summary_interval={max(1, steps // 4)}", f"task.train_data.global_batch_size={batch}",
                 "task.model.backbone.resnet_v1.norm_activation.norm=frn",
                 "task.model.decoder.norm_fpn.norm_activation.norm=frn", "task.model.head.norm_activation.norm=frn"]
    if SMOKE:  # one eval batch of the reported split, no selection split
        overrides += ["trainer.validation_steps=1", "task.selection.input_path=", "task.selection.annotation_file="]
    command = [sys.executable, "-m", "detection.train", "--experiment", "frn_retinanet_embedded",
               "--run_dir", run_dir, "--replicas", str(replicas)]
    for override in overrides:
        command += ["--params_override", override]
    env = dict(os.environ)
    if SMOKE:
        env["CUDA_VISIBLE_DEVICES"] = "-1"
    start = time.time()
    # the embedded data first, written by a CPU-only child: this process must not start TensorFlow's runtime yet
    subprocess.run([sys.executable, "-c", "from detection.data import embedded; embedded.ensure()"], cwd=REPO_ROOT,
                   env=dict(env, CUDA_VISIBLE_DEVICES="-1"), check=True)
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"the embedded cell failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    with open(os.path.join(run_dir, "metrics.json")) as f:
        metrics = json.load(f)
    metrics["process_seconds"] = time.time() - start
    return metrics


def step_record(times, dtypes, device, size, batch):
    """What --out writes (sweep/cluster/cost.py reads it): seconds per step per norm at `batch` images per GPU
    and `size` px, in float32 without XLA as the cells train (else the first dtype measured)."""
    dtype = "float32" if "float32" in dtypes else dtypes[0]
    seconds = {k: v for k, v in times[(dtype, False)].items() if k != "stock MG bn"}  # ours: bn, frn, gn
    return {"format": 1, "device": device, "dtype": dtype, "xla": False, "image_size": size, "batch_per_gpu": batch,
            "seconds_per_step": seconds}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="CPU, tiny sizes: test the script (CI)")
    parser.add_argument("--dtypes", default="float32,bfloat16")
    parser.add_argument("--out", default=None, help="also write the step times as JSON (run_sweep.py plan "
                        "--step-seconds FILE)")
    args = parser.parse_args(argv)
    gpus = tf.config.list_physical_devices("GPU")
    if not args.smoke and not gpus:
        raise SystemExit("no GPU visible to TensorFlow (tf.config.list_physical_devices('GPU') is empty); "
                         "--smoke runs this script on CPU")
    size, batch, repeats, inner = (128, 1, 1, 3) if args.smoke else (640, 8, 5, 5)
    devices = "CPU (smoke)" if args.smoke else ", ".join(
        tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus)
    model = "(models shrunk)" if args.smoke else "R50-FPN"
    header(f"gpu_check on {devices}: RetinaNet {model} train step, batch {batch} at {size} px, median of "
           f"{repeats}x{inner} steps")
    # the cell's child process first: once this process starts TensorFlow's runtime (the step timing
    # below), it holds nearly all memory of every visible GPU and the child would run out of memory
    replicas, steps, cell_batch = (2, 6, 4) if args.smoke else (8, 200, 16)
    metrics = embedded_cell(replicas, steps, cell_batch)
    data = embedded.ensure()
    dtypes = args.dtypes.split(",")
    times = step_times(data, size, batch, dtypes, (False, True), repeats, inner,
                       xla_variants=("bn",) if args.smoke else VARIANTS)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(step_record(times, dtypes, devices, size, batch), f, indent=2)
        print(f"wrote {args.out}", flush=True)
    print(f"embedded FRN cell: {steps} steps, B={cell_batch} on {replicas} replicas "
          f"({metrics['devices']['count']} {metrics['devices']['kind']}): {metrics['images_per_second']:.1f} "
          f"images/s training, AP {100 * metrics['coco']['AP']:.1f}, {metrics['process_seconds']:.0f} s in all",
          flush=True)
    return {"step_times": {f"{d}/{'xla' if x else 'graph'}": t for (d, x), t in times.items()}, "cell": metrics}


if __name__ == "__main__":
    main()

"""Cost of resuming a cell's input stream at a late step: time to its first batch, measured in one run.

    python -m benchmarks.resume_cost [--step 1600] [--batch 16] [--repeats 3]

Baseline (the old way): build the uninterrupted pipeline and skip `step` whole batches (every skipped
image is decoded, parsed and batched). Now: the task skips the serialized records before decoding
(detection/resume_input.py). Both on the embedded dataset (1,500 training images, generated on first
use) with the embedded RetinaNet's parser, float32, CPU; median of --repeats. Prints both and the ratio.
"""
import argparse
import statistics
import time

from benchmarks.timing import header
from common.legacy_keras import use_legacy_keras

use_legacy_keras()

from official.core import exp_factory, task_factory  # noqa: E402

import detection.registry_imports  # noqa: E402,F401
from detection import experiments  # noqa: E402
from detection.data import embedded  # noqa: E402


def first_batch_seconds(config, step, old_way):
    task = task_factory.get_task(config.task)
    task.resume_step = 0 if old_way else step
    start = time.perf_counter()
    dataset = task.build_inputs(config.task.train_data)
    if old_way:
        dataset = dataset.skip(step)
    next(iter(dataset))
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--step", type=int, default=1600, help="the step a killed cell resumes at")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    config = exp_factory.get_exp_config("frn_retinanet_embedded")
    experiments.use_dataset(config, embedded.ensure())
    config.task.train_data.global_batch_size = args.batch
    config.task.train_data.seed = 0
    config.task.train_data.deterministic = True
    header(f"resume at step {args.step}, B={args.batch} ({args.step * args.batch:,} images skipped), "
           f"median of {args.repeats}")
    old = statistics.median(first_batch_seconds(config, args.step, True) for _ in range(args.repeats))
    new = statistics.median(first_batch_seconds(config, args.step, False) for _ in range(args.repeats))
    print(f"skip decoded batches (baseline): {old:8.2f} s to the first batch")
    print(f"skip serialized records:         {new:8.2f} s to the first batch   ratio {new / old:.3f}")


if __name__ == "__main__":
    main()

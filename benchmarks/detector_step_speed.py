"""Train-step time of RetinaNet per norm, as ratios measured in one run.

Baselines: stock Model Garden `retinanet_resnetfpn_coco` (BatchNorm hard-wired) for our BN model,
and our BN model for GN and FRN. One batch of the embedded dataset at 256 px, float32, graph mode,
one device; the model is the paper's R50-FPN (levels 3-7, 4-conv head) or the tiny CPU model.

    python -m benchmarks.detector_step_speed                      # R50 and tiny, batch 2
    python -m benchmarks.detector_step_speed --models tiny --batch 8
Targets: our BN <= 1.03x stock; FRN <= 1.05x our BN.
"""
import argparse

import tensorflow as tf  # noqa: E402
from official.core import exp_factory, task_factory  # noqa: E402
from official.modeling import performance  # noqa: E402
from official.vision.tasks import retinanet as stock_retinanet  # noqa: E402

import detection.registry_imports  # noqa: E402,F401
from benchmarks.timing import header, median_seconds
from detection import experiments  # noqa: E402
from detection.data import embedded  # noqa: E402


def _config(name, size, batch, data, dtype="float32"):
    config = exp_factory.get_exp_config(name)
    config.task.init_checkpoint = None
    config.runtime.mixed_precision_dtype = dtype
    experiments.use_dataset(config, data)
    config.task.model.input_size = [size, size, 3]
    config.task.train_data.global_batch_size = batch
    config.task.train_data.dtype = dtype
    config.task.train_data.parser.aug_rand_hflip = False
    return config


def _set_norm(config, norm):
    from detection.configs import norm_configs
    for component in norm_configs(config.task.model).values():
        component.norm = norm


def time_step(task, config, repeats, inner, jit_compile=False):
    """Median seconds of one train step (forward, backward, SGD update) on one fixed batch; the model
    is built under the config's mixed precision policy, like Model Garden's trainer does."""
    performance.set_mixed_precision_policy(config.runtime.mixed_precision_dtype or "float32")
    try:
        model = task.build_model()
        optimizer = task.create_optimizer(config.trainer.optimizer_config, config.runtime)
        batch = next(iter(task.build_inputs(config.task.train_data)))
        step = tf.function(lambda inputs: task.train_step(inputs, model, optimizer), jit_compile=jit_compile)
        return median_seconds(lambda: step(batch)["loss"], repeats, inner, warmup=2)
    finally:
        performance.set_mixed_precision_policy("float32")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="r50,tiny")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--inner", type=int, default=2)
    args = parser.parse_args()
    data = embedded.ensure()
    header(f"RetinaNet train step, batch {args.batch} at {args.size} px, float32, median of "
           f"{args.repeats}x{args.inner} steps")
    for model_name in args.models.split(","):
        ours_name = "frn_retinanet_coco" if model_name == "r50" else "frn_retinanet_embedded"
        times = {}
        if model_name == "r50":
            stock = _config("retinanet_resnetfpn_coco", args.size, args.batch, data)
            times["stock MG bn"] = time_step(stock_retinanet.RetinaNetTask(stock.task), stock, args.repeats, args.inner)
        for norm in ("bn", "gn", "frn"):
            config = _config(ours_name, args.size, args.batch, data)
            _set_norm(config, norm)
            times[norm] = time_step(task_factory.get_task(config.task), config, args.repeats, args.inner)
        line = ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in times.items())
        ratios = f"frn/bn {times['frn'] / times['bn']:.3f}, gn/bn {times['gn'] / times['bn']:.3f}"
        if "stock MG bn" in times:
            ratios = f"our bn/stock {times['bn'] / times['stock MG bn']:.3f}, " + ratios
        print(f"{model_name}: {line}; {ratios}", flush=True)


if __name__ == "__main__":
    main()

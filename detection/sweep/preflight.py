"""Checks every cell of a sweep against Model Garden before `run` starts anything (imports TensorFlow).

`plan` checks the YAML alone; `run` also resolves each cell's experiment: strict overrides (an
unknown or mistyped Model Garden key), data files, annotation JSON and num_classes, norms, batch
vs replicas and the init checkpoint. The first problem raises SweepConfigError naming the block
key and the bad value; nothing has trained and no result was touched.
"""
import json
import os

from detection.sweep.errors import SweepConfigError

# fields that change the numbers of a run but not whether its config is valid
_IRRELEVANT = ("lr_mult", "lr", "steps", "warmup_steps", "seed", "momentum", "weight_decay")


def check(cells):
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    from detection.sweep.cell_params import experiment_config
    from detection.validate import ConfigError, validate_experiment
    seen = set()
    for cell in cells:
        resolved = cell.as_dict()
        key = json.dumps({k: v for k, v in resolved.items() if k not in _IRRELEVANT}, sort_keys=True, default=str)
        if key in seen:
            continue
        seen.add(key)
        checkpoint = resolved["init_checkpoint"]
        where = f"blocks.{cell.block} ({cell.id})"
        if cell.pretrain:
            resolved["init_checkpoint"] = None  # made by the pretrain step
        elif checkpoint and not (tf.io.gfile.exists(checkpoint + ".index") or tf.train.latest_checkpoint(checkpoint)):
            raise SweepConfigError(f"{where}: init_checkpoint {checkpoint!r} is neither a checkpoint prefix nor a "
                                   f"folder with one")
        try:
            validate_experiment(experiment_config(resolved), cell.replicas)
        except ConfigError as error:
            raise SweepConfigError(f"{where}: {error}") from error
        except (KeyError, ValueError, TypeError, AttributeError) as error:  # strict Model Garden overrides
            message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise SweepConfigError(f"{where}: overrides {dict(cell.overrides)} do not apply to Model Garden's "
                                   f"{cell.experiment}: {message}") from error

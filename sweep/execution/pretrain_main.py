"""The sweep's `pretrain` step: the stand-in for an ImageNet-pretrained BN backbone.

The paper's fine-tuned baseline starts from a BN backbone pretrained on a large, different
dataset (FRN Sec. 4.2). Here: a RetinaNet with BN everywhere (one replica, so BN sees the whole
batch) trained on a *source* set of generated shapes that shares no image with the embedded
data the cells train and report on (its own seed, more images), at the cells' 128 px, so the
frozen BN statistics the fine-tuned cells inherit were measured on images like theirs. Training
is deterministic like the cells' (same machine, same seed, same checkpoint values). Its
`backbone/` checkpoint has a `backbone` child: fine-tuned cells load it with init_checkpoint +
init_checkpoint_modules: backbone. The source set is generated once per machine, keyed by its
settings, like the embedded data.

    python -m sweep.execution.pretrain_main --spec runs/<sweep>/pretrain-<hash>/spec.json --result results/<sweep>/pretrain-<hash>.json
"""
import os

from common.paths import DATA_ROOT
from detection.preemption import Preempted
from sweep.execution import child
from sweep.store.status import FAILED, FINISHED

SOURCE_SEED = 1  # the embedded data the cells use is seed 0


def source_spec(spec):
    """The source set of pretrain settings `spec`: `images` training images, a 1/4-sized val set (capped
    at 200) to report the pretrained detector's own AP, no selection split."""
    from detection.data import embedded
    return embedded.Spec(train_images=spec["images"], val_images=min(200, max(4, spec["images"] // 4)),
                         select_images=0, image_size=spec["image_size"], seed=SOURCE_SEED)


def pretrain(spec, run_dir, data_root=DATA_ROOT):
    import tensorflow as tf
    import tf_keras
    from official.core import task_factory

    from detection.cell_config import pretrain_experiment
    from detection.cell_training import run_cell
    from detection.data import embedded
    tf_keras.utils.set_random_seed(spec["seed"])
    source_spec_ = source_spec(spec)
    source = embedded.ensure(os.path.join(data_root, f"embedded-source-{source_spec_.key()}"), source_spec_)
    params = pretrain_experiment(spec, source)
    detector_dir = os.path.join(run_dir, "detector")
    metrics = run_cell(params, detector_dir, replicas=1)
    # the backbone alone, as a checkpoint with a `backbone` child
    model = task_factory.get_task(params.task).build_model()
    tf.train.Checkpoint(model=model).read(tf.train.latest_checkpoint(detector_dir)).expect_partial()
    backbone_dir = os.path.join(run_dir, "backbone")
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(backbone=model.backbone), backbone_dir, max_to_keep=1)
    manager.save(checkpoint_number=metrics["steps"])
    return {"source": {"root": source.root, "train_images": source_spec_.train_images,
                       "val_images": source_spec_.val_images, "seed": SOURCE_SEED},
            "source_coco": metrics["coco"], "steps": metrics["steps"], "final_loss": metrics["final_loss"],
            "checkpoint_dir": backbone_dir}


def run(spec, run_dir):
    try:
        return {"status": FINISHED, "spec": spec, **pretrain(spec, run_dir)}
    except Preempted:
        raise  # sweep/execution/child.py: no result, the preempted exit code; the next run resumes
    except Exception as error:  # recorded; the fine-tuned cells then fail with a clear message
        return {"status": FAILED, "spec": spec, "error": f"{type(error).__name__}: {error}"}


if __name__ == "__main__":
    child.main(__doc__, run, ("status", "source_coco"))

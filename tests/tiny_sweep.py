"""A tiny sweep file on the tiny generated dataset: cells that train and evaluate in ~20 s each."""
import yaml

from tests.detection_data import tiny_dataset


def write_tiny_sweep(folder, name="tiny", norms=("frn", "gn"), lr_mult=0.01, steps=24, jobs=1, data=None):
    """Writes folder/<name>.yaml (and the dataset under folder/data unless given); returns its path."""
    data = data or tiny_dataset(folder / "data")
    document = {
        "sweep": name, "detector": "retinanet", "scale": "embedded", "jobs": jobs,
        "data": {"train": data.tfrecords("train"), "val": data.tfrecords("val"),
                 "annotations": data.annotations("val"), "num_classes": data.num_classes},
        "base": {"replicas": 2, "batch": 4, "image_size": 64, "bn_momentum": 0.9,
                 "overrides": {"task.validation_data.global_batch_size": 4, "trainer.validation_steps": 2}},
        "scaling": {"base_batch": 4, "base_steps": steps, "warmup_fraction": 0.1},
        "blocks": {"scratch": {"grid": {"norm": list(norms),
                                        "lr_mult": list(lr_mult) if isinstance(lr_mult, (list, tuple)) else [lr_mult]}}},
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path

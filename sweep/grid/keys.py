"""Every key a sweep file may hold: its types, default and valid range, in one table per section.

A value outside its range stops `plan` with one line naming the key, the value and what is valid
(sweep/grid/checks.py). The limits are meanings (a momentum lies in [0, 1)) or sizes nobody means
(a global batch above 65,536), never tuning advice.
"""
import dataclasses
import math

from norm_layers.group_policy import DEFAULT_POLICY

INT, NUMBER, TEXT = (int,), (int, float), (str,)
MAX_BATCH = 65_536
MAX_SEED = 2**32 - 1  # numpy's seed range (tf_keras.utils.set_random_seed seeds numpy, Python and TF)
MAX_CELLS = 100_000   # cells one sweep file may expand to (counted before expanding)
MAX_JOBS = 64
MAX_FILE_BYTES = 1 << 20


@dataclasses.dataclass(frozen=True)
class Range:
    """A closed or half-open interval of finite numbers; `text` says it in an error message."""
    low: float = -math.inf
    high: float = math.inf
    high_open: bool = False
    low_open: bool = False

    def holds(self, value):
        if not math.isfinite(value):
            return False
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    @property
    def text(self):
        if self.high == math.inf:
            return "a positive number" if (self.low, self.low_open) == (0, True) else f"a number >= {self.low:g}"
        left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
        return f"in {left}{self.low:g}, {self.high:g}{right}"


POSITIVE = Range(0, low_open=True)
FRACTION = Range(0, 1, high_open=True)  # momentum, BN momentum, warm-up fraction


@dataclasses.dataclass(frozen=True)
class Key:
    types: tuple
    default: object
    range: Range = None  # numbers only


BASE_KEYS = {
    "norm": Key((str, dict), "bn"),
    "activation": Key(TEXT, ""),
    "batch": Key(INT, 16, Range(1, MAX_BATCH)),
    "lr_mult": Key(NUMBER, 0.1, POSITIVE),
    "seed": Key(INT, 0, Range(0, MAX_SEED)),
    "replicas": Key(INT, 1, Range(1, 4096)),
    "image_size": Key((int, type(None)), None, Range(1, 4096)),  # and a multiple of the coarsest stride
    "bn_momentum": Key(NUMBER, 0.99, FRACTION),
    "gn_groups": Key(INT, 32, Range(1, 4096)),  # and at most the widest normalized layer
    # gn_groups at every width ('fixed') or scaled by each component's width ('width'): norm_layers/group_policy.py
    "gn_groups_policy": Key(TEXT, DEFAULT_POLICY),
    "momentum": Key(NUMBER, 0.9, FRACTION),
    "weight_decay": Key(NUMBER, 4e-4, Range(0, 1, high_open=True)),
    "init_checkpoint": Key((str, type(None)), None),
    "overrides": Key((dict,), {}),
}
SCALING_KEYS = {
    "base_batch": Key(INT, 64, Range(1, MAX_BATCH)),
    "base_steps": Key(INT, 125_000, Range(1, 10**9)),
    "schedule": Key(TEXT, "cosine"),
    "warmup_fraction": Key(NUMBER, 0.0, FRACTION),
    "evals": Key(INT, 1, Range(1, 1000)),  # COCO evaluations over training, evenly spaced, the last at the end
}
PRETRAIN_KEYS = {  # the stand-in for ImageNet pretraining: a BN RetinaNet on a distinct source set (sweep/execution/pretrain_main.py)
    "steps": Key(INT, 1200, Range(1, 10**7)),
    "batch": Key(INT, 16, Range(1, MAX_BATCH)),
    "lr": Key(NUMBER, 0.03, Range(0, 100, low_open=True)),
    "images": Key(INT, 3000, Range(8, 10**6)),        # training images of the generated source set
    "image_size": Key(INT, 128, Range(32, 1024)),    # and a multiple of 32 (the small ResNet's level 5)
    "norm": Key(TEXT, "bn"),
    "seed": Key(INT, 0, Range(0, MAX_SEED)),
}
DATA_KEYS = {
    "train": Key(TEXT, None),
    "val": Key(TEXT, None),
    "annotations": Key(TEXT, None),
    "num_classes": Key(INT, None, Range(2, 100_000)),
    "select_val": Key(TEXT, None),           # optional selection split: lr multipliers are chosen on it
    "select_annotations": Key(TEXT, None),
}
AXES = ("norm", "batch", "lr_mult", "seed", "bn_momentum", "gn_groups", "activation", "weight_decay")
TOP_KEYS = ("sweep", "detector", "scale", "data", "pretrain", "base", "scaling", "blocks", "jobs")
BLOCK_KEYS = ("grid", "base", "scaling")
SCHEDULES = ("cosine", "step")
PRETRAIN = "pretrain"  # init_checkpoint value: the checkpoint of the sweep's pretrain step

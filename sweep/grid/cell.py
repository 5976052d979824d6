"""One training run of a sweep: a fully resolved grid point, and its stable id (no TensorFlow)."""
import dataclasses
import functools
import hashlib
import json

from norm_layers.group_policy import DEFAULT_POLICY

# Fields that describe a cell but are implied by the others, so they stay out of its id and of the
# identity its result file is checked against: `scale` is the suffix of `experiment` (..._embedded or
# ..._coco). Keeping them out keeps every id (and every committed result) valid when one is added.
# `evals` (AP points during training) does not change what is trained either.
NOT_IN_ID = ("scale", "evals")
# Fields added after results were committed that change what is trained: written and hashed only
# when they differ from their default, so every earlier cell keeps its id and its recorded form.
OMITTED_AT_DEFAULT = {"gn_groups_policy": DEFAULT_POLICY}


@dataclasses.dataclass(frozen=True)
class Cell:
    """One training run: a fully resolved point of a block's grid."""
    sweep: str
    block: str
    detector: str
    scale: str            # 'embedded' (CPU-sized models) or 'paper' (R50-FPN at 640 px)
    experiment: str
    norms: tuple          # ((component, norm), ...)
    activation: str
    batch: int
    replicas: int
    lr_mult: float
    lr: float
    steps: int
    warmup_steps: int
    schedule: str
    seed: int
    bn_momentum: float
    gn_groups: int
    momentum: float
    weight_decay: float
    image_size: object
    init_checkpoint: object
    data: tuple           # ((key, value), ...)
    overrides: tuple      # ((dotted key, JSON value), ...)
    pretrain: object = None  # ((key, value), ...) of the pretrain step when init_checkpoint is 'pretrain'
    evals: int = 1           # COCO evaluations of the reported split over training; the last at the final step
    gn_groups_policy: str = DEFAULT_POLICY  # gn_groups at every width, or scaled by each component's width ('width')

    @property
    def per_replica_batch(self):
        return self.batch // self.replicas

    @property
    def norm_label(self):
        """'frn' when every component has it, else the norms in component order: 'frozen_bn/bn/bn'."""
        values = [norm for _, norm in self.norms]
        return values[0] if len(set(values)) == 1 else "/".join(values)

    def hparams(self):
        """The settings a TensorBoard HParams table shows (numbers and strings only; detection/hparams_summary.py)."""
        values = {"block": self.block, "detector": self.detector, "norm": self.norm_label,
                  "activation": self.activation, "batch": self.batch, "per_replica_batch": self.per_replica_batch,
                  "replicas": self.replicas, "lr_mult": self.lr_mult, "lr": self.lr, "steps": self.steps,
                  "seed": self.seed, "init": str(self.init_checkpoint or "scratch")}
        values.update({f"norm/{component}": norm for component, norm in self.norms})
        return values

    def as_dict(self):
        """Every field but those at their OMITTED_AT_DEFAULT value, JSON-ready; `from_dict` rebuilds the
        same Cell (the child process does)."""
        return _without_defaults(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, values):
        """The Cell of `as_dict()` output (tuples come back from JSON lists)."""
        values = dict(values)
        for key in ("norms", "data", "overrides", "pretrain"):
            if values.get(key) is not None:
                values[key] = tuple(tuple(pair) for pair in values[key])
        return cls(**values)

    @functools.cached_property
    def identity(self):
        """What the id hashes and what a result file must record: every field but NOT_IN_ID (and those at
        their OMITTED_AT_DEFAULT value)."""
        return json.loads(self.canonical)

    @functools.cached_property
    def canonical(self):
        """The identity as JSON with sorted keys."""
        values = {k: v for k, v in self.as_dict().items() if k not in NOT_IN_ID}
        return json.dumps(values, sort_keys=True, default=str)

    @functools.cached_property
    def id(self):
        """Stable across runs and machines: derived from the resolved cell only (computed once)."""
        digest = hashlib.sha256(self.canonical.encode()).hexdigest()[:8]
        label = self.norm_label.replace("/", "_")
        return f"{self.block}-{label}-b{self.batch}-m{self.lr_mult:g}-s{self.seed}-{digest}"


def _without_defaults(values):
    return {k: v for k, v in values.items() if not (k in OMITTED_AT_DEFAULT and v == OMITTED_AT_DEFAULT[k])}


def identity_of(recorded):
    """The identity part of a cell dict read back from a result file."""
    if not isinstance(recorded, dict):
        return recorded
    return {k: v for k, v in _without_defaults(recorded).items() if k not in NOT_IN_ID}

"""Sweep YAML -> validated Cells, with the paper's scaling rules (FRN Sec. 4.2).

    lr = m x B / B0        steps = S0 x B0 / B        (B0 = 64, S0 = 125,000 in the paper)

A file has `sweep` (its name), `detector`, `data`, `base` (settings shared by every cell),
`scaling` (B0, S0, schedule) and `blocks`: named grids, e.g. the from-scratch grid and the
fine-tuned baseline, each with its own `grid` axes and optional `base` / `scaling` overrides.
"""
import dataclasses
import functools
import hashlib
import itertools
import json
import re

import yaml

from detection.sweep.errors import SweepConfigError, did_you_mean
from norm_layers.names import ACTIVATION_NAMES, NORM_NAMES

DETECTORS = {"retinanet": "frn_retinanet", "faster_rcnn": "frn_faster_rcnn"}
COMPONENTS = {"retinanet": ("backbone", "decoder", "head"),
              "faster_rcnn": ("backbone", "decoder", "rpn_head", "detection_head")}
SCHEDULES = ("cosine", "step")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

# key -> (python types, default); `None` default = required where it matters
BASE_KEYS = {
    "norm": ((str, dict), "bn"),
    "activation": ((str,), ""),
    "batch": ((int,), 16),
    "lr_mult": ((int, float), 0.1),
    "seed": ((int,), 0),
    "replicas": ((int,), 1),
    "image_size": ((int,), None),
    "bn_momentum": ((int, float), 0.99),
    "gn_groups": ((int,), 32),
    "momentum": ((int, float), 0.9),
    "weight_decay": ((int, float), 4e-4),
    "init_checkpoint": ((str, type(None)), None),
    "overrides": ((dict,), {}),
}
SCALING_KEYS = {
    "base_batch": ((int,), 64),
    "base_steps": ((int,), 125_000),
    "schedule": ((str,), "cosine"),
    "warmup_fraction": ((int, float), 0.0),
}
AXES = ("norm", "batch", "lr_mult", "seed", "bn_momentum", "gn_groups", "activation", "weight_decay")
TOP_KEYS = ("sweep", "detector", "scale", "data", "pretrain", "base", "scaling", "blocks", "jobs")
MAX_JOBS = 64
PRETRAIN_KEYS = {  # the embedded default's stand-in for ImageNet pretraining (detection/sweep/pretrain_main.py)
    "steps": ((int,), 300),
    "batch": ((int,), 64),
    "lr": ((int, float), 0.1),
    "image_size": ((int,), 64),
    "norm": ((str,), "bn"),
    "seed": ((int,), 0),
}
PRETRAIN = "pretrain"  # init_checkpoint value: the checkpoint of the sweep's pretrain step
SCALES = ("embedded", "paper")  # the CPU-sized models or the paper's R50-FPN
BLOCK_KEYS = ("grid", "base", "scaling")
DATA_KEYS = ("train", "val", "annotations", "num_classes")


@dataclasses.dataclass(frozen=True)
class Cell:
    """One training run: a fully resolved point of a block's grid."""
    sweep: str
    block: str
    detector: str
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
    overrides: tuple      # ((dotted key, value), ...)
    pretrain: object = None  # ((key, value), ...) of the pretrain step when init_checkpoint is 'pretrain'

    @property
    def per_replica_batch(self):
        return self.batch // self.replicas

    @property
    def norm_label(self):
        """'frn' when every component has it, else the norms in component order: 'frozen_bn/bn/bn'."""
        values = [norm for _, norm in self.norms]
        return values[0] if len(set(values)) == 1 else "/".join(values)

    def as_dict(self):
        return dataclasses.asdict(self)

    @functools.cached_property
    def canonical(self):
        """The cell as JSON (sorted keys): what its id hashes and what its result file records."""
        return json.dumps(self.as_dict(), sort_keys=True, default=str)

    @functools.cached_property
    def id(self):
        """Stable across runs and machines: derived from the resolved cell only (computed once)."""
        digest = hashlib.sha256(self.canonical.encode()).hexdigest()[:8]
        label = self.norm_label.replace("/", "_")
        return f"{self.block}-{label}-b{self.batch}-m{self.lr_mult:g}-s{self.seed}-{digest}"


def _where(path):
    return ".".join(str(p) for p in path)


def _check_keys(mapping, allowed, path):
    if not isinstance(mapping, dict):
        raise SweepConfigError(f"{_where(path) or 'the file'}: expected a mapping, got {type(mapping).__name__} "
                               f"{mapping!r}")
    for key in mapping:
        if key not in allowed:
            raise SweepConfigError(f"{_where(path + [key])}: unknown key{did_you_mean(key, allowed)}; "
                                   f"valid keys: {', '.join(allowed)}")


def _check_type(value, types, path):
    if isinstance(value, bool) or not isinstance(value, types):
        if not (isinstance(value, bool) and bool in types):
            names = " or ".join(t.__name__ for t in types)
            raise SweepConfigError(f"{_where(path)}: {value!r} has type {type(value).__name__}; expected {names}")


def _check_positive(value, path):
    if value <= 0:
        raise SweepConfigError(f"{_where(path)}: {value!r} must be positive")


def _norms(value, detector, path):
    """A norm name or {component: name} -> ((component, name), ...) for every component."""
    components = COMPONENTS[detector]
    if isinstance(value, str):
        value = {c: value for c in components}
    _check_keys(value, components, path)
    missing = [c for c in components if c not in value]
    if missing:
        raise SweepConfigError(f"{_where(path)}: no norm for {', '.join(missing)}; give one name or all of "
                               f"{', '.join(components)}")
    for component, name in value.items():
        if name not in NORM_NAMES:
            raise SweepConfigError(f"{_where(path + [component])}: unknown norm {name!r}{did_you_mean(name, NORM_NAMES)}; "
                                   f"valid norms: {', '.join(NORM_NAMES)}")
    return tuple((c, value[c]) for c in components)


def _settings(defaults, given, keys, path):
    _check_keys(given, keys, path)
    merged = dict(defaults)
    for key, value in given.items():
        _check_type(value, keys[key][0], path + [key])
        merged[key] = value
    return merged


def load(path):
    """Reads and validates a sweep file; returns (name, [Cell])."""
    return parse(_read(path), str(path))


def jobs(path):
    """The sweep's `jobs`: how many cells run at once on this machine (default 1; not part of any cell)."""
    document = _read(path)
    return document.get("jobs", 1) if isinstance(document, dict) else 1


def _read(path):
    try:
        with open(path, "rb") as f:
            raw = f.read()
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SweepConfigError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from error
    except OSError as error:
        raise SweepConfigError(f"{path}: cannot read the sweep file ({error.strerror})") from error
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise SweepConfigError(f"{path}:{where}: malformed YAML: {problem}") from error
    return document


def parse(document, source="<sweep>"):
    """Validates a loaded sweep document; returns (name, [Cell]) in file order."""
    if not isinstance(document, dict):
        raise SweepConfigError(f"{source}: expected a mapping with keys {', '.join(TOP_KEYS)}, "
                               f"got {type(document).__name__}")
    _check_keys(document, TOP_KEYS, [])
    name = document.get("sweep")
    if not isinstance(name, str) or not NAME.match(name):
        raise SweepConfigError(f"sweep: {name!r} is not a valid sweep name (letters, digits, '_', '-', '.'; "
                               f"no path separators; at most 64 characters)")
    jobs_value = document.get("jobs", 1)
    _check_type(jobs_value, (int,), ["jobs"])
    if not 1 <= jobs_value <= MAX_JOBS:
        raise SweepConfigError(f"jobs: {jobs_value!r} must be between 1 and {MAX_JOBS} (cells run at once)")
    detector = document.get("detector", "retinanet")
    if detector not in DETECTORS:
        raise SweepConfigError(f"detector: unknown detector {detector!r}{did_you_mean(detector, DETECTORS)}; "
                               f"valid detectors: {', '.join(DETECTORS)}")
    data = _data(document.get("data", "embedded"))
    scale = document.get("scale", "embedded" if dict(data)["kind"] == "embedded" else "paper")
    if scale not in SCALES:
        raise SweepConfigError(f"scale: unknown scale {scale!r}{did_you_mean(scale, SCALES)}; valid: {', '.join(SCALES)}")
    pretrain = None
    if document.get("pretrain") is not None:
        pretrain = _settings({k: v for k, (_, v) in PRETRAIN_KEYS.items()}, document["pretrain"], PRETRAIN_KEYS,
                             ["pretrain"])
        for key in ("steps", "batch", "lr", "image_size"):
            _check_positive(pretrain[key], ["pretrain", key])
        if pretrain["norm"] not in NORM_NAMES:
            raise SweepConfigError(f"pretrain.norm: unknown norm {pretrain['norm']!r}; valid norms: {', '.join(NORM_NAMES)}")
        if dict(data)["kind"] != "embedded":
            raise SweepConfigError("pretrain: the pretrain step uses the embedded dataset; with other data give "
                                   "init_checkpoint a checkpoint path")
        pretrain = tuple(sorted(pretrain.items()))
    defaults = {k: v for k, (_, v) in BASE_KEYS.items()}
    base = _settings(defaults, document.get("base") or {}, BASE_KEYS, ["base"])
    scaling = _settings({k: v for k, (_, v) in SCALING_KEYS.items()}, document.get("scaling") or {},
                        SCALING_KEYS, ["scaling"])
    blocks = document.get("blocks")
    if not isinstance(blocks, dict) or not blocks:
        raise SweepConfigError("blocks: expected a mapping of block name -> {grid: ...} with at least one block")
    cells = []
    for block, spec in blocks.items():
        if not isinstance(block, str) or not NAME.match(block):
            raise SweepConfigError(f"blocks: {block!r} is not a valid block name (letters, digits, '_', '-', '.')")
        spec = spec if spec is not None else {}
        _check_keys(spec, BLOCK_KEYS, ["blocks", block])
        block_base = _settings(base, spec.get("base") or {}, BASE_KEYS, ["blocks", block, "base"])
        block_scaling = _settings(scaling, spec.get("scaling") or {}, SCALING_KEYS, ["blocks", block, "scaling"])
        block_cells = _expand(name, block, detector, scale, data, block_base, block_scaling, spec.get("grid") or {})
        if block_base["init_checkpoint"] == PRETRAIN:
            if pretrain is None:
                raise SweepConfigError(f"blocks.{block}.base.init_checkpoint: 'pretrain' needs a top-level pretrain "
                                       f"section (steps, batch, lr, image_size, norm, seed)")
            block_cells = [dataclasses.replace(c, pretrain=pretrain) for c in block_cells]
        cells.extend(block_cells)
    ids = [c.id for c in cells]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise SweepConfigError(f"blocks: cells {', '.join(duplicates)} appear twice; make the grids disjoint")
    return name, cells


def _data(value):
    if value == "embedded":
        return (("kind", "embedded"),)
    if not isinstance(value, dict):
        raise SweepConfigError(f"data: {value!r} is not 'embedded' or a mapping with {', '.join(DATA_KEYS)}")
    _check_keys(value, DATA_KEYS, ["data"])
    for key in ("train", "val", "annotations"):
        if not isinstance(value.get(key), str) or not value[key]:
            raise SweepConfigError(f"data.{key}: {value.get(key)!r} must be a path or glob "
                                   f"(data: train, val, annotations)")
    return (("kind", "files"),) + tuple(sorted(value.items()))


def _expand(sweep, block, detector, scale, data, base, scaling, grid):
    path = ["blocks", block, "grid"]
    _check_keys(grid, AXES, path)
    axes = {}
    for axis in AXES:
        if axis not in grid:
            axes[axis] = [base[axis]]
            continue
        values = grid[axis]
        if not isinstance(values, list):
            values = [values]
        if not values:
            raise SweepConfigError(f"{_where(path + [axis])}: empty axis; give at least one value")
        for value in values:
            _check_type(value, BASE_KEYS[axis][0], path + [axis])
        axes[axis] = values
    _check_scaling(scaling, ["blocks", block, "scaling"])
    cells = []
    for point in itertools.product(*(axes[a] for a in AXES)):
        values = dict(zip(AXES, point))
        cells.append(_cell(sweep, block, detector, scale, data, {**base, **values}, scaling, path))
    return cells


def _check_scaling(scaling, path):
    for key in ("base_batch", "base_steps"):
        _check_positive(scaling[key], path + [key])
    if scaling["schedule"] not in SCHEDULES:
        raise SweepConfigError(f"{_where(path + ['schedule'])}: unknown schedule {scaling['schedule']!r}; "
                               f"valid: {', '.join(SCHEDULES)}")
    if not 0 <= scaling["warmup_fraction"] < 1:
        raise SweepConfigError(f"{_where(path + ['warmup_fraction'])}: {scaling['warmup_fraction']!r} must be in [0, 1)")


def _cell(sweep, block, detector, scale, data, settings, scaling, path):
    norms = _norms(settings["norm"], detector, path + ["norm"])
    if settings["activation"] and settings["activation"] not in ACTIVATION_NAMES:
        raise SweepConfigError(f"{_where(path + ['activation'])}: unknown activation {settings['activation']!r}; "
                               f"valid: {', '.join(ACTIVATION_NAMES)}")
    for key in ("batch", "replicas", "lr_mult", "bn_momentum", "gn_groups"):
        _check_positive(settings[key], path + [key])
    if settings["weight_decay"] < 0:
        raise SweepConfigError(f"{_where(path + ['weight_decay'])}: {settings['weight_decay']!r} must be >= 0")
    batch, replicas = settings["batch"], settings["replicas"]
    if batch % replicas:
        raise SweepConfigError(f"{_where(path + ['batch'])}: {batch} is not divisible by replicas {replicas}; "
                               f"valid: multiples of {replicas}")
    steps = round(scaling["base_steps"] * scaling["base_batch"] / batch)
    lr = settings["lr_mult"] * batch / scaling["base_batch"]
    if steps < 1:
        raise SweepConfigError(f"{_where(path + ['batch'])}: {batch} gives {steps} steps "
                               f"(S0 x B0 / B); lower the batch or raise base_steps")
    overrides = settings["overrides"]
    _check_type(overrides, (dict,), path[:-1] + ["base", "overrides"])
    suffix = "embedded" if scale == "embedded" else "coco"
    return Cell(
        sweep=sweep, block=block, detector=detector, experiment=f"{DETECTORS[detector]}_{suffix}", norms=norms,
        activation=settings["activation"], batch=batch, replicas=replicas, lr_mult=float(settings["lr_mult"]),
        lr=lr, steps=steps, warmup_steps=int(round(scaling["warmup_fraction"] * steps)),
        schedule=scaling["schedule"], seed=settings["seed"], bn_momentum=float(settings["bn_momentum"]),
        gn_groups=settings["gn_groups"], momentum=float(settings["momentum"]),
        weight_decay=float(settings["weight_decay"]), image_size=settings["image_size"],
        init_checkpoint=settings["init_checkpoint"], data=data,
        overrides=tuple(sorted((str(k), json.dumps(v, sort_keys=True)) for k, v in overrides.items())))

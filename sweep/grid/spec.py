"""Sweep YAML -> one validated Sweep of Cells, with the paper's scaling rules (FRN Sec. 4.2).

    lr = m x B / B0        steps = S0 x B0 / B        (B0 = 64, S0 = 125,000 in the paper)

A file has `sweep` (its name), `detector`, `data`, `base` (settings shared by every cell),
`scaling` (B0, S0, schedule) and `blocks`: named grids, e.g. the from-scratch grid and the
fine-tuned baseline, each with its own `grid` axes and optional `base` / `scaling` overrides.
Every key, its type and valid range: sweep/grid/keys.py. No TensorFlow here.
"""
import dataclasses
import itertools
import json
import math
import os
import re
import stat

import yaml

from common.batching import batch_problem
from detection.detectors import COARSEST_STRIDE, COMPONENTS, DETECTORS, SCALES, WIDEST_CHANNELS, experiment_name
from norm_layers.group_policy import GROUP_POLICIES
from norm_layers.names import ACTIVATION_NAMES, NORM_NAMES
from sweep.errors import SweepConfigError, did_you_mean
from sweep.grid.cell import Cell
from sweep.grid.checks import check_keys, check_type, check_value, settings, where
from sweep.grid.keys import (
    AXES,
    BASE_KEYS,
    BLOCK_KEYS,
    DATA_KEYS,
    MAX_CELLS,
    MAX_FILE_BYTES,
    MAX_JOBS,
    PRETRAIN,
    PRETRAIN_KEYS,
    SCALING_KEYS,
    SCHEDULES,
    TOP_KEYS,
    Key,
    Range,
)

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclasses.dataclass(frozen=True)
class Sweep:
    """A validated sweep file: what `plan`, `run`, `gather` and the shards all work from."""
    name: str
    cells: tuple        # Cells in file order
    jobs: int           # cells at once on one machine (not part of any cell)
    pretrain: object    # ((key, value), ...) of the pretrain step, or None
    data: tuple         # ((key, value), ...): kind 'embedded' or the COCO-format files
    source: str         # the file it was read from
    overrides: tuple = ()  # the `--set KEY=VALUE` texts applied to the file, in order


def load(path, overrides=()):
    """Reads and validates a sweep file (a regular file of at most 1 MiB); returns its Sweep.

    overrides: `KEY=VALUE` texts (run_sweep.py --set), each a dotted path into the document (jobs,
    base.replicas, blocks.scratch.grid.seed) and a YAML value, applied to the parsed document before
    it is validated, so an override is checked exactly like the same edit of the file; an error it
    causes names it."""
    document = _read(path)
    if not overrides:
        return parse(document, str(path))
    pairs = [_override(text) for text in overrides]
    for key, value, text in pairs:
        document = _apply(document, key, value, text)
    try:
        sweep = parse(document, str(path))
    except SweepConfigError as error:
        raise SweepConfigError(f"{error} ({_blame(str(error), pairs)})") from error
    return dataclasses.replace(sweep, overrides=tuple(text for _, _, text in pairs))


def _override(text):
    """`KEY=VALUE` -> (key path, value parsed as YAML, text)."""
    key, sep, value = str(text).partition("=")
    if not sep or not re.fullmatch(r"[^.\s=]+(\.[^.\s=]+)*", key):
        raise SweepConfigError(f"--set {text!r:.80}: expected KEY=VALUE with a dotted KEY (e.g. base.replicas=4, "
                               f"blocks.scratch.grid.seed=[0,1])")
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError as error:
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise SweepConfigError(f"--set {text}: malformed YAML value: {problem}") from error
    return key.split("."), parsed, text


def _apply(document, path, value, text):
    """The document with `value` at `path`; missing mappings on the way are created (the validation
    then names an unknown key). A key may itself hold dots (a block named `a.b`): the longest
    existing key wins."""
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise SweepConfigError(f"--set {text}: the file is not a mapping")
    node, rest, walked = document, list(path), []
    while len(rest) > 1:
        for size in range(len(rest) - 1, 0, -1):  # longest existing key first
            key = ".".join(rest[:size])
            if key in node:
                break
        else:
            size, key = 1, rest[0]
        walked.append(key)
        rest = rest[size:]
        if node.get(key) is None:
            node[key] = {}
        if not isinstance(node[key], dict):
            raise SweepConfigError(f"--set {text}: {'.'.join(walked)} is {type(node[key]).__name__} "
                                   f"{node[key]!r:.40}, not a mapping")
        node = node[key]
    node[".".join(rest)] = value
    return document


def _blame(message, pairs):
    """Which --set an error comes from: the one whose key the error's path starts with (or is inside)."""
    where_ = message.split(":", 1)[0].strip()
    for key, _, text in pairs:
        dotted = ".".join(key)
        if where_ == dotted or where_.startswith(dotted + ".") or dotted.startswith(where_ + "."):
            return f"from --set {text}"
    return "with " + ", ".join(f"--set {text}" for _, _, text in pairs)


def _read(path):
    try:
        info = os.stat(path)
    except OSError as error:
        raise SweepConfigError(f"{path}: cannot read the sweep file ({error.strerror})") from error
    if not stat.S_ISREG(info.st_mode):
        raise SweepConfigError(f"{path}: not a regular file; give a sweep YAML file (e.g. configs/default.yaml)")
    if info.st_size > MAX_FILE_BYTES:
        raise SweepConfigError(f"{path}: {info.st_size:,} bytes; a sweep file may have at most {MAX_FILE_BYTES:,}")
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)  # bounded even if the file grows meanwhile
        if len(raw) > MAX_FILE_BYTES:
            raise SweepConfigError(f"{path}: more than {MAX_FILE_BYTES:,} bytes; a sweep file may have at most "
                                   f"{MAX_FILE_BYTES:,}")
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SweepConfigError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from error
    except OSError as error:
        raise SweepConfigError(f"{path}: cannot read the sweep file ({error.strerror})") from error
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        at = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise SweepConfigError(f"{path}:{at}: malformed YAML: {problem}") from error


def parse(document, source="<sweep>"):
    """Validates a loaded sweep document; returns its Sweep (cells in file order)."""
    if not isinstance(document, dict):
        raise SweepConfigError(f"{source}: expected a mapping with keys {', '.join(TOP_KEYS)}, "
                               f"got {type(document).__name__}")
    check_keys(document, TOP_KEYS, [])
    name = document.get("sweep")
    if not isinstance(name, str) or not NAME.match(name):
        raise SweepConfigError(f"sweep: {name!r:.70} is not a valid sweep name (letters, digits, '_', '-', '.'; "
                               f"no path separators; at most 64 characters)")
    jobs = document.get("jobs", 1)
    check_value(jobs, Key((int,), 1, Range(1, MAX_JOBS)), ["jobs"])
    detector = document.get("detector", "retinanet")
    _check_choice(detector, DETECTORS, ["detector"], "detector")
    data = _data(document.get("data", "embedded"))
    scale = document.get("scale", "embedded" if dict(data)["kind"] == "embedded" else "paper")
    _check_choice(scale, SCALES, ["scale"], "scale")
    pretrain = _pretrain(document.get("pretrain"), data)
    base = settings({k: key.default for k, key in BASE_KEYS.items()}, document.get("base") or {}, BASE_KEYS,
                    ["base"])
    scaling = settings({k: key.default for k, key in SCALING_KEYS.items()}, document.get("scaling") or {},
                       SCALING_KEYS, ["scaling"])
    blocks = document.get("blocks")
    if not isinstance(blocks, dict) or not blocks:
        raise SweepConfigError("blocks: expected a mapping of block name -> {grid: ...} with at least one block")
    for block, spec in blocks.items():
        if not isinstance(block, str) or not NAME.match(block):
            raise SweepConfigError(f"blocks: {block!r:.70} is not a valid block name (letters, digits, '_', '-', '.')")
        check_keys(spec if spec is not None else {}, BLOCK_KEYS, ["blocks", block])
    _check_cell_count(blocks)
    cells = []
    for block, spec in blocks.items():
        spec = spec or {}
        block_base = settings(base, spec.get("base") or {}, BASE_KEYS, ["blocks", block, "base"])
        block_scaling = settings(scaling, spec.get("scaling") or {}, SCALING_KEYS, ["blocks", block, "scaling"])
        block_cells = _expand(name, block, detector, scale, data, block_base, block_scaling, spec.get("grid") or {})
        if block_base["init_checkpoint"] == PRETRAIN:
            if pretrain is None:
                raise SweepConfigError(f"blocks.{block}.base.init_checkpoint: 'pretrain' needs a top-level pretrain "
                                       f"section ({', '.join(PRETRAIN_KEYS)})")
            block_cells = [dataclasses.replace(c, pretrain=pretrain) for c in block_cells]
        cells.extend(block_cells)
    ids = [c.id for c in cells]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise SweepConfigError(f"blocks: cells {', '.join(duplicates)} appear twice; make the grids disjoint")
    return Sweep(name=name, cells=tuple(cells), jobs=jobs, pretrain=pretrain, data=data, source=source)


def _check_choice(value, choices, path, what):
    if not isinstance(value, str) or value not in choices:
        raise SweepConfigError(f"{where(path)}: unknown {what} {value!r:.70}{did_you_mean(value, choices)}; "
                               f"valid: {', '.join(choices)}")


def _check_cell_count(blocks):
    """Refuses a grid too large to expand, from the axis lengths alone (nothing is expanded)."""
    total = 0
    for spec in blocks.values():
        grid = (spec or {}).get("grid") or {}
        count = 1
        if isinstance(grid, dict):
            for values in grid.values():
                count *= len(values) if isinstance(values, list) else 1
        total += count
    if total > MAX_CELLS:
        raise SweepConfigError(f"blocks: the grids expand to {total:,} cells; a sweep file may have at most "
                               f"{MAX_CELLS:,} (split it or shorten an axis)")


def _pretrain(value, data):
    if value is None:
        return None
    pretrain = settings({k: key.default for k, key in PRETRAIN_KEYS.items()}, value, PRETRAIN_KEYS, ["pretrain"])
    if pretrain["image_size"] % 32:
        raise SweepConfigError(f"pretrain.image_size: {pretrain['image_size']} is not a multiple of 32 (the "
                               f"small ResNet's coarsest stride); valid: 32, 64, 96, ...")
    if pretrain["norm"] not in NORM_NAMES:
        raise SweepConfigError(f"pretrain.norm: unknown norm {pretrain['norm']!r:.70}"
                               f"{did_you_mean(pretrain['norm'], NORM_NAMES)}; valid norms: {', '.join(NORM_NAMES)}")
    if dict(data)["kind"] != "embedded":
        raise SweepConfigError("pretrain: the pretrain step uses the embedded dataset; with other data give "
                               "init_checkpoint a checkpoint path")
    return tuple(sorted(pretrain.items()))


def _data(value):
    if value == "embedded":
        return (("kind", "embedded"),)
    if not isinstance(value, dict):
        raise SweepConfigError(f"data: {value!r:.70} is not 'embedded' or a mapping with {', '.join(DATA_KEYS)}")
    check_keys(value, DATA_KEYS, ["data"])
    for key in ("train", "val", "annotations"):
        if not isinstance(value.get(key), str) or not value[key]:
            raise SweepConfigError(f"data.{key}: {value.get(key)!r:.70} must be a path or glob "
                                   f"(data: train, val, annotations)")
    if "num_classes" in value:
        check_value(value["num_classes"], DATA_KEYS["num_classes"], ["data", "num_classes"])
    selection = [key for key in ("select_val", "select_annotations") if key in value]
    if len(selection) == 1:
        missing = {"select_val", "select_annotations"} - set(selection)
        raise SweepConfigError(f"data.{selection[0]}: given without data.{missing.pop()}; the selection split "
                               f"needs both (its TFRecords and its annotation JSON) or neither")
    for key in selection:
        if not isinstance(value[key], str) or not value[key]:
            raise SweepConfigError(f"data.{key}: {value[key]!r:.70} must be a path or glob")
    return (("kind", "files"),) + tuple(sorted(value.items()))


def _expand(sweep, block, detector, scale, data, base, scaling, grid):
    path = ["blocks", block, "grid"]
    check_keys(grid, AXES, path)
    axes = {}
    for axis in AXES:
        if axis not in grid:
            axes[axis] = [base[axis]]
            continue
        values = grid[axis] if isinstance(grid[axis], list) else [grid[axis]]
        if not values:
            raise SweepConfigError(f"{where(path + [axis])}: empty axis; give at least one value")
        for value in values:
            check_value(value, BASE_KEYS[axis], path + [axis])
        axes[axis] = values
    _check_choice(scaling["schedule"], SCHEDULES, ["blocks", block, "scaling", "schedule"], "schedule")
    _check_block(block, detector, scale, base, path)
    return [_cell(sweep, block, detector, scale, data, {**base, **dict(zip(AXES, point))}, scaling, path)
            for point in itertools.product(*(axes[a] for a in AXES))]


def _check_block(block, detector, scale, base, path):
    """Settings that are not grid axes but depend on the detector and scale."""
    size = base["image_size"]
    stride = COARSEST_STRIDE[(detector, scale)]
    if size is not None and size % stride:
        raise SweepConfigError(f"blocks.{block}.base.image_size: {size} is not a multiple of {stride}, the "
                               f"coarsest stride of {detector} at scale {scale}; valid: {stride}, {2 * stride}, ...")
    check_type(base["overrides"], (dict,), path[:-1] + ["base", "overrides"])
    _check_choice(base["gn_groups_policy"], GROUP_POLICIES, path[:-1] + ["base", "gn_groups_policy"], "gn_groups_policy")


def _cell(sweep, block, detector, scale, data, values, scaling, path):
    norms = _norms(values["norm"], detector, path + ["norm"])
    if values["activation"] and values["activation"] not in ACTIVATION_NAMES:
        raise SweepConfigError(f"{where(path + ['activation'])}: unknown activation {values['activation']!r:.70}; "
                               f"valid: {', '.join(ACTIVATION_NAMES)}")
    if values["gn_groups"] > WIDEST_CHANNELS[scale]:
        raise SweepConfigError(f"{where(path + ['gn_groups'])}: {values['gn_groups']} groups exceed the "
                               f"{WIDEST_CHANNELS[scale]} channels of the widest normalized layer at scale "
                               f"{scale}; valid: 1 to {WIDEST_CHANNELS[scale]}")
    batch, replicas = values["batch"], values["replicas"]
    problem = batch_problem(batch, replicas)
    if problem:
        raise SweepConfigError(f"{where(path + ['batch'])}: {problem}")
    steps = round(scaling["base_steps"] * scaling["base_batch"] / batch)
    lr = values["lr_mult"] * batch / scaling["base_batch"]
    if steps < 1:
        raise SweepConfigError(f"{where(path + ['batch'])}: {batch} gives {steps} steps "
                               f"(S0 x B0 / B); lower the batch or raise base_steps")
    if not (math.isfinite(lr) and lr > 0):
        raise SweepConfigError(f"{where(path + ['lr_mult'])}: {values['lr_mult']!r} gives lr = m x B / B0 = {lr!r} "
                               f"at B = {batch}; valid: a multiplier whose lr is a positive finite number")
    overrides = values["overrides"]
    return Cell(
        sweep=sweep, block=block, detector=detector, scale=scale,
        experiment=experiment_name(detector, scale), norms=norms,
        activation=values["activation"], batch=batch, replicas=replicas, lr_mult=float(values["lr_mult"]),
        lr=lr, steps=steps, warmup_steps=int(round(scaling["warmup_fraction"] * steps)),
        schedule=scaling["schedule"], seed=values["seed"], bn_momentum=float(values["bn_momentum"]),
        gn_groups=values["gn_groups"], momentum=float(values["momentum"]),
        weight_decay=float(values["weight_decay"]), image_size=values["image_size"],
        init_checkpoint=values["init_checkpoint"], data=data,
        overrides=tuple(sorted((str(k), json.dumps(v, sort_keys=True)) for k, v in overrides.items())),
        evals=min(scaling["evals"], steps), gn_groups_policy=values["gn_groups_policy"])


def _norms(value, detector, path):
    """A norm name or {component: name} -> ((component, name), ...) for every component."""
    components = COMPONENTS[detector]
    if isinstance(value, str):
        value = {c: value for c in components}
    check_keys(value, components, path)
    missing = [c for c in components if c not in value]
    if missing:
        raise SweepConfigError(f"{where(path)}: no norm for {', '.join(missing)}; give one name or all of "
                               f"{', '.join(components)}")
    for component, name in value.items():
        if name not in NORM_NAMES:
            raise SweepConfigError(f"{where(path + [component])}: unknown norm {name!r:.70}"
                                   f"{did_you_mean(name, NORM_NAMES)}; valid norms: {', '.join(NORM_NAMES)}")
    return tuple((c, value[c]) for c in components)

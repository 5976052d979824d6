"""A ladder file: the rungs of the verdict across scale, each a sweep file and where its results are.

    verdict: ladder                    # the verdict's name: results/<verdict>/verdict.{md,json,png}
    versus: [gn, bn]                   # FRN minus each of these (default gn, bn)
    baseline: "r0"                     # optional: a rung's label; each other rung's change of FRN minus each
                                       # norm from it, paired at equal B, m and seed (sweep/reports/verdict.py)
    rungs:
      - {label: "r0 (32 groups, before)", sweep: configs/embedded_study.yaml, results: results/reference}
      - {label: "r1: 4x schedule", sweep: configs/ladder_r1_schedule4x.yaml}      # results: default results/

Paths are relative to the repository root. Every rung's sweep file is loaded and checked (sweep/grid/spec.py)
when the ladder is, so a ladder that loads has rungs that `plan` and `run` accept. No TensorFlow here.
"""
import dataclasses
import os

from common.paths import REPO_ROOT, RESULTS_ROOT
from norm_layers.names import NORM_NAMES
from sweep.errors import SweepConfigError, did_you_mean
from sweep.grid import spec
from sweep.grid.checks import check_keys, check_type, where
from sweep.store import layout

TOP_KEYS = ("verdict", "versus", "baseline", "rungs")
RUNG_KEYS = ("label", "sweep", "results")


@dataclasses.dataclass(frozen=True)
class Rung:
    label: str
    sweep: spec.Sweep   # the rung's loaded sweep file
    results_dir: str    # <results root>/<sweep name>


@dataclasses.dataclass(frozen=True)
class Ladder:
    name: str
    versus: tuple       # the norms FRN is paired with
    rungs: tuple        # Rungs in file order
    source: str
    baseline: str = None  # the label of the rung the others' changes are measured from, or None


def is_ladder_file(path):
    """True for a readable YAML mapping with `verdict` or `rungs` and no `sweep` (a ladder file, perhaps with a
    typo); anything else is left to the sweep loader, whose errors then apply."""
    try:
        document = spec._read(path)
    except SweepConfigError:
        return False
    return isinstance(document, dict) and "sweep" not in document and bool({"verdict", "rungs"} & set(document))


def _path(value):
    return value if os.path.isabs(value) else os.path.join(REPO_ROOT, value)


def load(path):
    """Reads and checks a ladder file (and each rung's sweep file); returns its Ladder."""
    document = spec._read(path)
    if not isinstance(document, dict):
        raise SweepConfigError(f"{path}: not a ladder file; expected a mapping with keys {', '.join(TOP_KEYS)}")
    check_keys(document, TOP_KEYS, [])
    if "verdict" not in document:
        raise SweepConfigError("verdict: missing; the verdict's name (results/<verdict>/verdict.md), e.g. verdict: ladder")
    name = document["verdict"]
    if not isinstance(name, str) or not spec.NAME.match(name):
        raise SweepConfigError(f"verdict: {name!r:.70} is not a valid name (letters, digits, '_', '-', '.')")
    versus = document.get("versus", ["gn", "bn"])
    check_type(versus, (list,), ["versus"])
    others = [n for n in NORM_NAMES if n != "frn"]
    for norm in versus:
        if norm not in others:
            raise SweepConfigError(f"versus: {norm!r:.70} is not a norm to pair FRN with{did_you_mean(norm, others)}; "
                                   f"valid: {', '.join(others)}")
    rungs = document.get("rungs")
    if not isinstance(rungs, list) or not rungs:
        raise SweepConfigError("rungs: expected a list of {label, sweep, results} with at least one rung")
    rungs = tuple(_rung(r, ["rungs", i]) for i, r in enumerate(rungs))
    labels = [rung.label for rung in rungs]
    baseline = document.get("baseline")
    if baseline is not None and baseline not in labels:
        raise SweepConfigError(f"baseline: {baseline!r:.70} is not a rung's label{did_you_mean(str(baseline), labels)}; "
                               f"valid: {', '.join(repr(label) for label in labels)}")
    return Ladder(name=name, versus=tuple(versus), rungs=rungs, source=str(path), baseline=baseline)


def _rung(value, path):
    check_keys(value, RUNG_KEYS, path)
    for key in ("label", "sweep"):
        if not isinstance(value.get(key), str) or not value[key]:
            raise SweepConfigError(f"{where(path + [key])}: {value.get(key)!r:.70} must be a non-empty string "
                                   f"(rung keys: {', '.join(RUNG_KEYS)})")
    check_type(value.get("results", RESULTS_ROOT), (str,), path + ["results"])
    sweep = spec.load(_path(value["sweep"]))
    return Rung(label=value["label"], sweep=sweep,
                results_dir=layout.results_dir(_path(value.get("results", RESULTS_ROOT)), sweep.name))

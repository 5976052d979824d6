#!/usr/bin/env python3
"""Runs a sweep of detector trainings from a YAML grid (docs/ARCHITECTURE.md).

    python run_sweep.py                                  run configs/default.yaml (the embedded default)
    python run_sweep.py run CONFIG [--only GLOB,...]     check every cell, then run the unfinished ones in order,
                         [--jobs N]                      N at a time (default: the file's `jobs`, else 1)
                         [--shard I/N | --shard auto]    only shard I of N (a SLURM array / Kubernetes Indexed Job task)
                         [--stage pretrain]              only the pretrain step the fine-tuned cells wait for
    python run_sweep.py plan CONFIG  (or --dry-run)      list the cells (id, norm, B, B per replica, m, lr,
                                                         steps, init) and totals; no TensorFlow
    python run_sweep.py gather CONFIG                    (re)build results/<sweep>/tables.* and the plot
    python run_sweep.py submit CONFIG --engine slurm|k8s write launch files for a cluster (and, with --submit,
                                                         submit them)
    python run_sweep.py eval CONFIG [--only GLOB,...]    re-score finished cells' checkpoints (no training), regather
    python run_sweep.py compare A B [--out FILE]         AP of B minus A, cells matched by their settings; A, B:
                                                         result folders or sweep files (results/compare/...)

Each cell trains in its own process (run directory runs/<sweep>/<cell id>/, git-ignored) and
leaves results/<sweep>/cells/<cell id>.json; a rerun skips finished cells and resumes an
interrupted one from its last checkpoint. Cells are claimed before they start, so several runners
on one results directory run each cell once; shards of a job array need no claims, so their
--results and --runs may be gs://. SIGTERM makes running cells save a checkpoint and stop.
Exit codes: 0 every cell finished, 1 some cells failed or diverged (summary printed) or a result
file could not be written, 2 bad config (nothing run, nothing written).
"""
import argparse
import os
import sys

from common.paths import REPO_ROOT, RESULTS_ROOT, RUNS_ROOT
from common.storage import StorageError
from sweep import runner, shards, tables
from sweep.errors import SweepConfigError
from sweep.keys import MAX_JOBS
from sweep.plan import describe
from sweep.results import FINISHED
from sweep.spec import load

DEFAULT_CONFIG = os.path.join(REPO_ROOT, "configs", "default.yaml")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", nargs="?", default="run", choices=["plan", "run", "gather", "submit", "eval", "compare"])
    parser.add_argument("config", nargs="?", default=DEFAULT_CONFIG)
    parser.add_argument("other", nargs="?", default=None, help="compare: the second result folder or sweep file")
    parser.add_argument("--dry-run", action="store_true", help="same as the plan command")
    parser.add_argument("--only", default="", help="comma-separated globs or substrings of cell ids")
    parser.add_argument("--results", default=RESULTS_ROOT, help="results root (default: results/; gs:// with --shard)")
    parser.add_argument("--runs", default=RUNS_ROOT, help="run directories root (default: runs/, git-ignored)")
    parser.add_argument("--jobs", type=int, default=None,
                        help="cells to run at once on this machine (default: the sweep's `jobs`, else 1)")
    parser.add_argument("--shard", default="", help="I/N: run shard I of N (0-based); auto: from SLURM_ARRAY_TASK_ID"
                        "/SLURM_ARRAY_TASK_COUNT or JOB_COMPLETION_INDEX/SWEEP_SHARD_COUNT")
    parser.add_argument("--stage", choices=["cells", "pretrain"], default="cells",
                        help="pretrain: run only the pretrain step (a job the sharded cells wait for)")
    parser.add_argument("--allow-cpu", action="store_true", help="let scale: paper cells run without GPUs (tests)")
    launch = parser.add_argument_group("submit")
    launch.add_argument("--engine", choices=["slurm", "k8s"], help="the cluster's scheduler")
    launch.add_argument("--parallel", type=int, default=8, help="shards running at once (default 8)")
    launch.add_argument("--gpus-per-cell", type=int, default=None,
                        help="GPUs each task gets (default: the cells' replicas, 0 for the embedded scale)")
    launch.add_argument("--shards", type=int, default=None, help="array size (default: one shard per cell)")
    launch.add_argument("--workers-per-cell", type=int, default=1,
                        help="machines (SLURM nodes, k8s pods) per cell: replicas = workers x local (default 1)")
    launch.add_argument("--out", default=None, help="folder for the launch files (default: launch/<sweep>/); "
                        "compare: the Markdown file to write")
    launch.add_argument("--repo", default=REPO_ROOT, help="this repository on the cluster (default: here)")
    launch.add_argument("--cpus-per-cell", type=int, default=8, help="CPU cores each task gets (default 8)")
    launch.add_argument("--time", default="48:00:00", help="SLURM time limit per task")
    launch.add_argument("--image", default="frn-detection-bench:latest", help="container image (k8s)")
    launch.add_argument("--submit", action="store_true", help="also submit (sbatch / kubectl apply)")
    args = parser.parse_args(argv)
    try:
        if args.command == "compare":
            return _compare(args)
        sweep = load(args.config)
        if args.jobs is not None and not 1 <= args.jobs <= MAX_JOBS:
            raise SweepConfigError(f"--jobs: {args.jobs} is out of range; valid: 1 to {MAX_JOBS}")
        return _command(args, sweep, runner.select(sweep.cells, args.only))
    except SweepConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except StorageError as error:  # disk full, permissions: what was written before stays
        print(f"error: {error}", file=sys.stderr)
        return 1


def _command(args, sweep, cells):
    if args.dry_run or args.command == "plan":
        print("\n".join(describe(sweep.name, cells)))
        return 0
    if args.command == "submit":
        from sweep.submit import submit
        return submit(args, sweep)
    results_dir = os.path.join(args.results, sweep.name)
    if args.command == "eval":
        from sweep.reevaluate import reevaluate
        statuses = reevaluate(sweep, cells, args.results, args.runs, log=lambda line: print(line, flush=True))
        statuses = {k: FINISHED if v == "evaluated" else v for k, v in statuses.items()
                    if not v.startswith("skipped")}
    if args.command == "run":
        shard = shards.parse_shard(args.shard)
        if shard:
            selected = set(cells)
            cells = [c for c in shards.partition(sweep.cells, shard[1])[shard[0]] if c in selected]
        elif args.stage == "cells":
            runner.check_roots(args.results, args.runs)
        from sweep import preflight  # imports TensorFlow: every cell checked before any trains
        preflight.check(cells, allow_cpu=args.allow_cpu)
        if shard:
            shards.ensure_plan(sweep, results_dir, shard[1])
        log = lambda line: print(line, flush=True)  # noqa: E731
        if args.stage == "pretrain":
            statuses = runner.run_pretrain_stage(sweep, args.results, args.runs, log)
        else:
            statuses = runner.run(sweep, cells, results_root=args.results, runs_root=args.runs, jobs=args.jobs,
                                  log=log, sharded=bool(shard))
    built = tables.gather(sweep.name, sweep.cells, results_dir)
    print(f"tables: {os.path.join(results_dir, 'tables.md')} ({built['counts']})")
    if args.command == "gather":
        return 0
    unfinished = {cid: s for cid, s in statuses.items() if s != "finished"}
    for cid, status in unfinished.items():
        print(f"  {status}: {cid}", file=sys.stderr)
    return 1 if unfinished else 0


def _results_dir(path, results_root):
    """A result folder as given, or a sweep file's results/<sweep>/."""
    if os.path.isdir(path):
        return path
    if os.path.isfile(path):
        return os.path.join(results_root, load(path).name)
    raise SweepConfigError(f"compare: {path!r} is neither a result folder nor a sweep file")


def _compare(args):
    from sweep import compare
    if not args.other:
        raise SweepConfigError("compare needs two result folders or sweep files: run_sweep.py compare A B")
    a, b = (_results_dir(p, args.results) for p in (args.config, args.other))
    found = compare.compare(a, b)
    if not found["cells"]:
        raise SweepConfigError(f"compare: no finished cell of {a} has the settings of one in {b}")
    out = args.out or compare.default_out(a, b, args.results)
    print(compare.markdown(found))
    print(f"written: {compare.write(found, out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

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
                                                         submit them); README "Clusters"
    python run_sweep.py eval CONFIG [--only GLOB,...]    re-score finished cells' checkpoints (no training), regather
    python run_sweep.py compare A B [--out FILE]         AP of B minus A, cells matched by their settings; A, B:
                                                         result folders or sweep files (results/compare/...)
    plan and submit with --step-seconds S|FILE also print the GPU-hours and the wall time (sweep/cost.py).

Each of the `jobs` lanes trains its cells in turn in one warm worker process (a fresh Keras session
per cell; --process-per-cell: a process each), in run directories runs/<sweep>/<cell id>/ (git-ignored),
and leaves results/<sweep>/cells/<cell id>.json; a rerun skips finished and diverged cells and resumes an
interrupted one from its last checkpoint. Cells are claimed before they start, so several runners
on one results directory run each cell once; shards of a job array need no claims, so their
--results and --runs may be gs://. SIGTERM or SIGUSR1 makes running cells save a checkpoint and stop.
Log lines carry the time, the host and the shard. Exit codes of run (and eval, gather):
  0   every cell has a result (finished, or diverged: a divergence is a recorded result)
  1   a failure a retry may fix: a failed or unrun cell, a file that could not be written
  2   bad config or option (nothing run, nothing written)
  75  (EX_TEMPFAIL) stopped on SIGTERM / SIGUSR1 after the running cells saved a checkpoint: run again
      to resume them (the SLURM script requeues the task); wins over 1
"""
import argparse
import logging
import os
import socket
import sys

from common.paths import REPO_ROOT, RESULTS_ROOT, RUNS_ROOT
from common.storage import StorageError
from sweep import runner, shards, submit, tables
from sweep.child import PREEMPTED_EXIT
from sweep.errors import SweepConfigError
from sweep.keys import MAX_JOBS
from sweep.plan import describe
from sweep.results import DIVERGED, FINISHED
from sweep.spec import load

DEFAULT_CONFIG = os.path.join(REPO_ROOT, "configs", "default.yaml")
RESULTS = (FINISHED, DIVERGED, runner.WORKER_DONE)  # exit 0 (a non-chief worker's cell: the chief recorded it)


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
    parser.add_argument("--process-per-cell", action="store_true",
                        help="run: a fresh process for every cell instead of one warm worker per lane "
                             "(sweep/cell_worker.py); same results, slower")
    parser.add_argument("--out", default=None, help="submit: folder for the launch files (default: launch/<sweep>/); "
                        "compare: the Markdown file to write")
    submit.add_arguments(parser)
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
        print("\n".join(describe(sweep.name, cells) + submit.cost_lines(args, sweep, cells)))
        return 0
    if args.command == "submit":
        return submit.submit(args, sweep)
    results_dir = os.path.join(args.results, sweep.name)
    if args.command == "eval":
        from sweep.reevaluate import reevaluate
        statuses = reevaluate(sweep, cells, args.results, args.runs, log=_log(None))
        statuses = {k: FINISHED if v == "evaluated" else v for k, v in statuses.items()
                    if not v.startswith("skipped")}
    if args.command == "run":
        runner.install_signal_handlers()  # first: a signal during preflight stops the run cleanly
        shard = shards.parse_shard(args.shard)
        if shard:
            selected = set(cells)
            cells = [c for c in shards.partition(sweep.cells, shard[1])[shard[0]] if c in selected]
        elif args.stage == "cells":
            runner.check_roots(args.results, args.runs)
        from sweep import preflight_child  # every cell checked before any trains, TensorFlow in a child
        try:
            preflight_child.check(cells, allow_cpu=args.allow_cpu)
        except RuntimeError:
            if not runner.stopping():
                raise
        if runner.stopping():  # signalled before any cell started: nothing to save, requeue
            print("stopped on a signal before any cell started", file=sys.stderr)
            return PREEMPTED_EXIT
        if shard:
            shards.ensure_plan(sweep, results_dir, shard[1])
        log = _log(shard)
        if args.stage == "pretrain":
            statuses = runner.run_pretrain_stage(sweep, args.results, args.runs, log)
        else:
            statuses = runner.run(sweep, cells, results_root=args.results, runs_root=args.runs, jobs=args.jobs,
                                  warm=not args.process_per_cell,
                                  log=log, sharded=bool(shard))
    built = tables.gather(sweep.name, sweep.cells, results_dir)
    print(f"tables: {os.path.join(results_dir, 'tables.md')} ({built['counts']})")
    if args.command == "gather":
        return 0
    for cid, status in statuses.items():
        if status != FINISHED:
            print(f"  {status}: {cid}", file=sys.stderr)
    return exit_code(statuses.values())


def exit_code(statuses):
    """75 when a cell stopped on a signal (and saved), else 1 when one has no result, else 0."""
    statuses = list(statuses)
    if runner.PREEMPTED in statuses:
        return PREEMPTED_EXIT
    return 1 if any(s not in RESULTS for s in statuses) else 0


def _log(shard):
    """The runner's `log`: one line each, with the time, this host and the shard (stdout)."""
    logger = logging.getLogger("run_sweep")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stdout)
    where = f" shard {shard[0]}/{shard[1]}" if shard else ""
    host = socket.gethostname().replace("%", "%%")
    handler.setFormatter(logging.Formatter(f"%(asctime)s {host}{where} | %(message)s", "%Y-%m-%d %H:%M:%S"))
    logger.addHandler(handler)
    return logger.info


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

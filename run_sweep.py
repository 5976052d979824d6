#!/usr/bin/env python3
"""Runs a sweep of detector trainings from a YAML grid (DESIGN.md: run_sweep.py).

    python run_sweep.py                                  run configs/default.yaml (the embedded default)
    python run_sweep.py run CONFIG [--only GLOB,...]     check every cell, then run the unfinished ones in order,
                         [--jobs N]                      N at a time (default: the file's `jobs`, else 1)
    python run_sweep.py plan CONFIG  (or --dry-run)      list the cells (id, norm, B, B per replica, m, lr,
                                                         steps, init) and totals; no TensorFlow
    python run_sweep.py gather CONFIG                    (re)build results/<sweep>/tables.* and the plot

Each cell trains in its own process (run directory runs/<sweep>/<cell id>/, git-ignored) and
leaves results/<sweep>/cells/<cell id>.json; a rerun skips finished cells and resumes an
interrupted one from its last checkpoint. Cells are claimed before they start, so several runners
on one results directory run each cell once. Exit codes: 0 every cell finished, 1 some cells
failed or diverged (summary printed) or a result file could not be written, 2 bad config
(nothing run).
"""
import argparse
import os
import sys

from detection.storage import StorageError
from detection.sweep import runner, tables
from detection.sweep.errors import SweepConfigError
from detection.sweep.plan import describe
from detection.sweep.results import RESULTS_ROOT, RUNS_ROOT
from detection.sweep import spec
from detection.sweep.spec import load

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "default.yaml")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", nargs="?", default="run", choices=["plan", "run", "gather"])
    parser.add_argument("config", nargs="?", default=DEFAULT_CONFIG)
    parser.add_argument("--dry-run", action="store_true", help="same as the plan command")
    parser.add_argument("--only", default="", help="comma-separated globs or substrings of cell ids")
    parser.add_argument("--results", default=RESULTS_ROOT, help="results root (default: results/)")
    parser.add_argument("--runs", default=RUNS_ROOT, help="run directories root (default: runs/, git-ignored)")
    parser.add_argument("--jobs", type=int, default=None,
                        help="cells to run at once on this machine (default: the sweep's `jobs`, else 1)")
    args = parser.parse_args(argv)
    try:
        name, cells = load(args.config)
        if args.jobs is not None and not 1 <= args.jobs <= spec.MAX_JOBS:
            raise SweepConfigError(f"--jobs: {args.jobs} must be between 1 and {spec.MAX_JOBS}")
        return _command(args, name, runner.select(cells, args.only), cells)
    except SweepConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except StorageError as error:  # disk full, permissions: what was written before stays
        print(f"error: {error}", file=sys.stderr)
        return 1


def _command(args, name, cells, all_cells):
    if args.dry_run or args.command == "plan":
        print("\n".join(describe(name, cells)))
        return 0
    results_dir = os.path.join(args.results, name)
    if args.command == "run":
        runner.check_roots(args.results, args.runs)
        from detection.sweep import preflight  # imports TensorFlow: every cell checked before any trains
        preflight.check(cells)
        jobs = args.jobs or spec.jobs(args.config)
        statuses = runner.run(name, cells, results_root=args.results, runs_root=args.runs, jobs=jobs,
                              log=lambda line: print(line, flush=True))
    built = tables.gather(name, all_cells, results_dir)
    print(f"tables: {os.path.join(results_dir, 'tables.md')} ({built['counts']})")
    if args.command == "gather":
        return 0
    unfinished = {cid: s for cid, s in statuses.items() if s != "finished"}
    for cid, status in unfinished.items():
        print(f"  {status}: {cid}", file=sys.stderr)
    return 1 if unfinished else 0

if __name__ == "__main__":
    sys.exit(main())

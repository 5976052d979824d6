#!/usr/bin/env python3
"""Runs a sweep of detector trainings from a YAML grid (DESIGN.md: run_sweep.py).

    python run_sweep.py                                  run configs/default.yaml (the embedded default)
    python run_sweep.py run CONFIG [--only GLOB,...]     run every unfinished cell, in order
    python run_sweep.py plan CONFIG  (or --dry-run)      list the cells (id, norm, B, B per replica, m, lr,
                                                         steps, init) and totals; no TensorFlow
    python run_sweep.py gather CONFIG                    (re)build results/<sweep>/tables.* and the plot

Each cell trains in its own process (run directory runs/<sweep>/<cell id>/, git-ignored) and
leaves results/<sweep>/cells/<cell id>.json; a rerun skips finished cells and resumes an
interrupted one from its last checkpoint. Exit codes: 0 every cell finished, 1 some cells
failed or diverged (summary printed), 2 bad config (nothing run).
"""
import argparse
import os
import sys

from detection.sweep import runner, tables
from detection.sweep.errors import SweepConfigError
from detection.sweep.plan import describe
from detection.sweep.results import RESULTS_ROOT, RUNS_ROOT
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
    args = parser.parse_args(argv)
    try:
        name, cells = load(args.config)
    except SweepConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    cells = runner.select(cells, args.only)
    if args.dry_run or args.command == "plan":
        print("\n".join(describe(name, cells)))
        return 0
    results_dir = os.path.join(args.results, name)
    if args.command == "run":
        statuses = runner.run(name, cells, results_root=args.results, runs_root=args.runs,
                              log=lambda line: print(line, flush=True))
    built = tables.gather(name, load(args.config)[1], results_dir)
    print(f"tables: {os.path.join(results_dir, 'tables.md')} ({built['counts']})")
    if args.command == "gather":
        return 0
    unfinished = {cid: s for cid, s in statuses.items() if s != "finished"}
    for cid, status in unfinished.items():
        print(f"  {status}: {cid}", file=sys.stderr)
    return 1 if unfinished else 0


if __name__ == "__main__":
    sys.exit(main())

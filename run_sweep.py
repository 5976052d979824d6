#!/usr/bin/env python3
"""Runs a sweep of detector trainings from a YAML grid (DESIGN.md: run_sweep.py).

    python run_sweep.py plan [configs/default.yaml]     every cell (id, norm, B, B per replica, m, lr,
                                                        steps, init) and the totals; no TensorFlow
Built so far: validation, grid expansion with the paper's scaling rules, and `plan`. Running
cells (`run`, the default) and `gather` arrive with the rest of issue #5; until then one cell
runs with `python -m detection.train` (README). Exit codes: 0 ok, 2 bad config, 1 not built.
"""
import argparse
import os
import sys

from detection.sweep.errors import SweepConfigError
from detection.sweep.plan import describe
from detection.sweep.spec import load

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "default.yaml")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", nargs="?", default="run", choices=["plan", "run", "gather"])
    parser.add_argument("config", nargs="?", default=DEFAULT_CONFIG)
    parser.add_argument("--dry-run", action="store_true", help="same as the plan command")
    args = parser.parse_args(argv)
    command = "plan" if args.dry_run else args.command
    if command != "plan":
        print(f"run_sweep.py {command} is not built yet (issue #5): today `plan` validates and expands a sweep, "
              f"and one cell runs with `python -m detection.train` (see README).", file=sys.stderr)
        return 1
    try:
        name, cells = load(args.config)
    except SweepConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print("\n".join(describe(name, cells)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

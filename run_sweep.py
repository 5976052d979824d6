#!/usr/bin/env python3
"""Runs a sweep of detector trainings from a YAML grid (DESIGN.md: run_sweep.py).

Not built yet: the sweep, the detectors and the embedded dataset arrive with issues
#3 (backbones), #4 (detection) and #5 (run_sweep). Until then this command says so and
exits non-zero rather than pretending to run anything.
"""
import sys


def main():
    print("run_sweep.py is not built yet: it needs the backbones (#3), detection (#4) and "
          "sweep (#5) issues. Today the suite provides norm_layers/ (see README).",
          file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())

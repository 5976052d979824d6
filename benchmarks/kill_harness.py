"""Kill anywhere, lose nothing: SIGKILLs a tiny sweep's whole process group at random moments.

    python -m benchmarks.kill_harness [--kills 20] [--seed 0] [--work /tmp/frn-kill-harness]

1. Runs the tiny sweep (2 RetinaNet cells, 24 steps each, generated data) once uninterrupted.
2. Runs it again from empty results, SIGKILLing the process group (runner + cell process) after a
   random delay, restarting each time, until --kills kills have hit a live sweep; then lets it finish.
   When a restarted sweep finishes before its kill, that completed killed sequence is checked
   (step 3) and the sweep starts again from empty results, so every kill counts.
   Each kill is labelled with the phase it hit, read from the logs: start-up, training,
   checkpoint, evaluation, result writing or gathering.
3. Checks, for every completed sequence: exit code 0; one result file per cell, each finished with 24 steps; the
   final tables equal the uninterrupted run's (AP to 1e-6, every column but wall time and
   images/s); every .json under results/ parses (no half-written file); leftover temporary
   files (a kill between write and rename) are counted, and never read as results.
Takes about 10 minutes on 2 cores.
"""
import argparse
import collections
import json
import os
import pathlib
import random
import shutil
import signal
import subprocess
import sys
import time

from common.paths import REPO_ROOT
from tests.tiny_sweep import write_tiny_sweep

ROOT = pathlib.Path(REPO_ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PHASES = [("cells", "result writing"), ("tables", "gathering"), ("running", "evaluation"),
          ("COCO", "evaluation"), ("eval |", "evaluation"), ("checkpoint", "checkpoint"),
          ("train |", "training"), ("training until", "training")]


def start(sweep_file, where):
    return subprocess.Popen([sys.executable, "run_sweep.py", "run", str(sweep_file), "--results",
                             str(where / "results"), "--runs", str(where / "runs")], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def phase(where, output_so_far):
    """What the sweep was doing, from its runner output and the newest cell log."""
    logs = sorted((where / "runs").glob("*/*/log.txt"), key=lambda p: p.stat().st_mtime)
    if output_so_far.rstrip().endswith("..."):  # a cell was started
        tail = logs[-1].read_text(errors="replace").splitlines()[-3:] if logs else []
        text = " ".join(tail)
        for needle, name in PHASES[2:]:
            if needle in text:
                return name
        return "start-up (cell)"
    if "tables:" in output_so_far:
        return "gathering"
    return "start-up (runner)"


def grid(where, name):
    rows = json.loads((where / "results" / name / "tables.json").read_text())["grid"]
    return [{k: v for k, v in r.items() if k not in ("wall_s", "images_per_s")} for r in rows]


def check(killed, work, name, cells):
    """(tables equal, max AP difference, leftover temp files) of a finished killed run vs the reference."""
    results = {p.name[:-5]: json.loads(p.read_text()) for p in (killed / "results" / name / "cells").glob("*.json")}
    if sorted(results) != sorted(c.id for c in cells) or not all(
            r["status"] == "finished" and r["steps"] == 24 for r in results.values()):
        return False, float("inf"), []
    reference_ap = {p.name[:-5]: json.loads(p.read_text())["coco"]["AP"]
                    for p in (work / "reference" / "results" / name / "cells").glob("*.json")}
    diff = max(abs(results[k]["coco"]["AP"] - reference_ap[k]) for k in reference_ap)
    for path in (killed / "results").rglob("*.json"):
        json.loads(path.read_text())  # every file named .json is whole
    leftovers = [p.name for p in (killed / "results").rglob("*.tmp-*")]
    return grid(killed, name) == grid(work / "reference", name) and diff <= 1e-6, diff, leftovers


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", default="/tmp/frn-kill-harness")
    args = parser.parse_args()
    work = pathlib.Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    sweep_file = write_tiny_sweep(work)
    from sweep.grid.spec import load
    sweep = load(str(sweep_file))
    name, cells = sweep.name, sweep.cells

    began = time.time()
    reference = start(sweep_file, work / "reference")
    output, _ = reference.communicate()
    full = time.time() - began
    assert reference.returncode == 0, output
    print(f"uninterrupted run: {full:.0f} s", flush=True)

    rng = random.Random(args.seed)
    killed = work / "killed"
    phases, kills, tries, completions = collections.Counter(), 0, 0, []
    while kills < args.kills:
        tries += 1
        process = start(sweep_file, killed)
        delay = rng.uniform(0.5, full * 0.6)
        time.sleep(delay)
        if process.poll() is not None:  # finished before the kill: check it, then start over to keep killing
            output, _ = process.communicate()
            ok = process.returncode == 0 and check(killed, work, name, cells)[0]
            completions.append(ok)
            print(f"  try {tries}: the sweep finished (after {kills} kills) before the kill at {delay:.1f} s; "
                  f"tables equal the uninterrupted run's: {ok}; restarting it empty")
            shutil.rmtree(killed)
            continue
        os.set_blocking(process.stdout.fileno(), False)
        so_far = process.stdout.read() or ""
        where = phase(killed, so_far)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        kills += 1
        phases[where] += 1
        print(f"  kill {kills}: after {delay:.1f} s, during {where}", flush=True)
    final = start(sweep_file, killed)
    output, _ = final.communicate()
    assert final.returncode == 0, output

    same, diff, leftovers = check(killed, work, name, cells)
    completions.append(same)
    print(f"kills survived / tried: {kills}/{kills} (restarts after an early finish: {tries - kills})")
    print(f"phases hit: {dict(phases)}")
    print(f"cells: {len(cells)} finished once each; AP max |killed - uninterrupted| = {diff:.2e}")
    print(f"final tables equal the uninterrupted run's: {same}; leftover temporary files (never read): {len(leftovers)}")
    print(f"completed killed sequences checked: {len(completions)}, all equal to the uninterrupted run: {all(completions)}")
    sys.exit(0 if all(completions) else 1)


if __name__ == "__main__":
    main()

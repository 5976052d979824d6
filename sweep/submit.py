"""`run_sweep.py submit CONFIG --engine slurm|k8s`: writes launch files, prints how to submit them,
and submits them only with --submit. No TensorFlow here."""
import json
import os
import shlex
import subprocess
import sys

from common.paths import REPO_ROOT, RESULTS_ROOT, RUNS_ROOT
from common.storage import write_atomic
from sweep import launch
from sweep.errors import SweepConfigError
from sweep.shards import ensure_plan

K8S_REPO = "/app"      # where Dockerfile puts this repository in the image
K8S_VOLUME = "/work"   # the shared volume (or use gs:// --results / --runs)


def _relative(path):
    absolute = os.path.abspath(path)
    return os.path.relpath(absolute, REPO_ROOT) if absolute.startswith(REPO_ROOT + os.sep) else absolute


def build_launch(args, sweep):
    if not args.engine:
        raise SweepConfigError("submit: --engine is required; valid: slurm, k8s")
    count = args.shards or launch.default_shards(sweep)
    if not 1 <= count <= len(sweep.cells):
        raise SweepConfigError(f"--shards: {count} is out of range; valid: 1 to {len(sweep.cells)} (the cell count)")
    if not 1 <= args.parallel <= 10_000:
        raise SweepConfigError(f"--parallel: {args.parallel} is out of range; valid: 1 to 10000")
    workers = args.workers_per_cell
    uneven = sorted({c.replicas for c in sweep.cells if c.replicas % max(1, workers)})
    if not 1 <= workers <= 1024 or uneven:
        raise SweepConfigError(f"--workers-per-cell: {workers} does not divide the cells' replicas {uneven or ''}; "
                               f"valid: 1 to 1024, a divisor of every cell's replicas (replicas = workers x local)")
    replicas = max(c.replicas for c in sweep.cells) // workers  # per worker
    paper = any(c.scale == "paper" for c in sweep.cells)
    gpus = args.gpus_per_cell if args.gpus_per_cell is not None else (replicas if paper else 0)
    if gpus < 0 or (gpus and replicas % gpus):
        raise SweepConfigError(f"--gpus-per-cell: {gpus} does not divide the {replicas} replicas of each worker; valid: "
                               f"a divisor of {replicas} (each GPU then holds replicas / GPUs logical replicas) or 0")
    results, runs, repo = _relative(args.results), _relative(args.runs), args.repo
    if args.engine == "k8s":  # the image holds the repository at /app; results live on the /work volume
        repo = repo if repo != REPO_ROOT else K8S_REPO
        results = results if args.results != RESULTS_ROOT else f"{K8S_VOLUME}/results"
        runs = runs if args.runs != RUNS_ROOT else f"{K8S_VOLUME}/runs"
    if not 1 <= args.cpus_per_cell <= 1024:
        raise SweepConfigError(f"--cpus-per-cell: {args.cpus_per_cell} is out of range; valid: 1 to 1024")
    # SLURM tasks share this filesystem: the same interpreter (virtualenv) runs them; the image has its own
    python = sys.executable if args.engine == "slurm" else "python"
    return launch.Launch(sweep=sweep, config=_relative(sweep.source), shards=count, parallel=args.parallel,
                         gpus_per_cell=gpus, results=results, runs=runs, repo=repo, python=python,
                         time_limit=args.time, cpus_per_cell=args.cpus_per_cell, image=args.image,
                         allow_cpu=args.allow_cpu, workers=workers)


def _manifest_file(manifest):
    """<name>.json for a Job, <name>-service.json for the Service of a multi-worker Job of that name."""
    suffix = "" if manifest["kind"] == "Job" else f"-{manifest['kind'].lower()}"
    return f"{manifest['metadata']['name']}{suffix}.json"


def write_files(engine, spec, out):
    """Writes the engine's files for `spec` (a launch.Launch) into `out`; returns ({name: path}, [argv])."""
    if engine == "slurm":
        files = launch.slurm_scripts(spec)
        commands = launch.slurm_commands(files, out)
    else:
        manifests = launch.k8s_manifests(spec)
        files = {_manifest_file(m): json.dumps(m, indent=2) + "\n" for m in manifests}
        commands = [["kubectl", "apply", "-f", os.path.join(out, name)] for name in files]
    paths = {}
    for name, text in files.items():
        paths[name] = os.path.join(out, name)
        write_atomic(paths[name], text)
    return paths, commands


def submit(args, sweep):
    spec = build_launch(args, sweep)
    out = args.out or os.path.join(REPO_ROOT, "launch", sweep.name)
    paths, commands = write_files(args.engine, spec, out)
    results_dir = os.path.join(args.results, sweep.name)
    plan = ensure_plan(sweep, results_dir, spec.shards)
    print(f"sweep {sweep.name}: {len(sweep.cells)} cells in {spec.shards} shards, {spec.parallel} at "
          f"once, {spec.gpus_per_cell} GPUs per task; plan recorded in {plan}")
    print("\n".join(launch.shard_summary(spec)))
    for path in paths.values():
        print(f"wrote {path}")
    print("submit with:" if not args.submit else "submitting:")
    for command in commands:
        print("  " + shlex.join(command))
    if args.submit:
        for command in commands:
            done = subprocess.run(command)
            if done.returncode:
                print(f"error: {shlex.join(command)} exited with {done.returncode}", file=sys.stderr)
                return 1
    print(f"then gather with: python run_sweep.py gather {spec.config} --results {spec.results}")
    return 0

"""`run_sweep.py submit CONFIG --engine slurm|k8s`: checks the options and the shard plan, then writes
launch files (sweep/cluster/launch.py, sweep/cluster/k8s.py), prints how to submit them, and submits them only with
--submit. A refused submit writes nothing. No TensorFlow here.
"""
import dataclasses
import json
import os
import re
import shlex
import subprocess
import sys

from common.paths import REPO_ROOT, RESULTS_ROOT, RUNS_ROOT
from common.storage import is_remote, write_atomic
from sweep.cluster import k8s, launch
from sweep.cluster.shards import ensure_plan
from sweep.errors import SweepConfigError
from sweep.store.layout import plan_path, results_dir

K8S_REPO = "/app"      # where Dockerfile puts this repository in the image
SLURM_OPTIONS = ("partition", "account", "qos", "constraint")  # passed through as #SBATCH --<option>=VALUE


@dataclasses.dataclass(frozen=True)
class CostOptions:
    """plan's and submit's cost and array options (add_cost_arguments), as parsed."""
    step_seconds: str | None
    parallel: int
    gpus_per_cell: int | None
    shards: int | None
    workers_per_cell: int


@dataclasses.dataclass(frozen=True)
class SubmitOptions(CostOptions):
    """Every option of `run_sweep.py submit` (add_arguments, add_cost_arguments and the roots), as parsed;
    build_launch checks them."""
    engine: str | None
    repo: str
    python: str | None
    cpus_per_cell: int
    cpus_per_gpu: int
    mem: str
    time: str
    partition: str
    account: str
    qos: str
    constraint: str
    setup: list
    signal_seconds: int
    image: str
    namespace: str
    claim_name: str
    claim_size: str
    node_selector: list
    toleration: list
    grace_seconds: int
    submit: bool
    results: str
    runs: str
    out: str | None
    allow_cpu: bool


def add_cost_arguments(parser):
    """The options plan and submit share: the cost (--step-seconds) and the array's shape."""
    group = parser.add_argument_group("cost and shards (plan, submit)")
    add = group.add_argument
    add("--step-seconds", default=None, help="print GPU-hours and wall time from S seconds per "
        "step, or from a FILE of `python -m benchmarks.gpu_check --out FILE`")
    add("--parallel", type=int, default=8, help="shards running at once (default 8)")
    add("--gpus-per-cell", type=int, default=None,
        help="GPUs each task (each worker) gets (default: the cells' replicas, 0 for the embedded scale)")
    add("--shards", type=int, default=None, help="array size (default: one shard per cell)")
    add("--workers-per-cell", type=int, default=1,
        help="machines (SLURM nodes, k8s pods) per cell: replicas = workers x local (default 1)")


def add_arguments(parser):
    """The submit-only options: the engine and the site's (plus add_cost_arguments)."""
    group = parser.add_argument_group("submit")
    add = group.add_argument
    add("--engine", choices=["slurm", "k8s"], help="the cluster's scheduler")
    add("--repo", default=REPO_ROOT, help="this repository on the cluster (default: here; k8s: /app in the image)")
    add("--python", default=None, help="the interpreter on the nodes (SLURM default: `python` with --setup, "
        "else this one, sys.executable; k8s: python)")
    add("--cpus-per-cell", type=int, default=8, help="CPU cores per task at least (default 8)")
    add("--cpus-per-gpu", type=int, default=4, help="CPU cores per GPU: a task gets max(--cpus-per-cell, "
        "GPUs x this) (default 4)")
    add("--mem", default="", help="memory per task, SLURM syntax (64G; k8s: 64Gi; default: the site's, k8s 32Gi)")
    add("--time", default="48:00:00", help="SLURM time limit per task")
    for option in SLURM_OPTIONS:
        add(f"--{option}", default="", help=f"SLURM --{option}")
    add("--setup", action="append", default=[], help="SLURM: a shell line run before srun (repeatable: "
        "'module load cuda/12.4', 'source /shared/venv/bin/activate')")
    add("--signal-seconds", type=int, default=300, help="SLURM: SIGUSR1 this long before the time limit; the "
        "cells save and the task requeues (default 300)")
    add("--image", default="frn-detection-bench:latest", help="k8s: container image (Dockerfile; GPUs: "
        "--build-arg EXTRAS=gpu)")
    add("--namespace", default="", help="k8s namespace (default: kubectl's)")
    add("--claim-name", default="frn-sweep-work", help="k8s: the ReadWriteMany PersistentVolumeClaim mounted "
        "at /work (default frn-sweep-work)")
    add("--claim-size", default="", help="k8s: also write that claim (ReadWriteMany) with this size, e.g. 2Ti")
    add("--node-selector", action="append", default=[], help="k8s: KEY=VALUE (repeatable)")
    add("--toleration", action="append", default=[], help="k8s: KEY[=VALUE]:EFFECT (repeatable)")
    add("--grace-seconds", type=int, default=120, help="k8s: terminationGracePeriodSeconds, the time the "
        "cells get to save a checkpoint (default 120)")
    add("--submit", action="store_true", help="also submit (sbatch / kubectl apply)")


def _relative(path):
    """A local path relative to the repository when inside it; scheme:// paths unchanged."""
    if is_remote(path):
        return path
    absolute = os.path.abspath(path)
    return os.path.relpath(absolute, REPO_ROOT) if absolute.startswith(REPO_ROOT + os.sep) else absolute


def _in_range(option, value, low, high):
    if not low <= value <= high:
        raise SweepConfigError(f"{option}: {value} is out of range; valid: {low} to {high}")
    return value


def _one_line(option, value):
    if re.search(r"[\n\r]", value) or not value.strip():
        raise SweepConfigError(f"{option}: {value!r:.60} must be one non-empty line")
    return value


def _sbatch_value(option, value):
    if not re.fullmatch(r"\S+", value):
        raise SweepConfigError(f"{option}: {value!r:.60} is not one #SBATCH value; valid: no spaces (e.g. gpu, 48:00:00)")
    return value


def resources(args, sweep):
    """(workers per cell, GPUs per worker), checked against the cells' replicas."""
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
    return workers, gpus


def shard_count(args, sweep):
    count = args.shards or launch.default_shards(sweep)
    _in_range("--shards", count, 1, len(sweep.cells))
    _in_range("--parallel", args.parallel, 1, 10_000)
    return count


def cost_lines(args, sweep, cells):
    """plan / submit with --step-seconds: GPU-hours and wall time (sweep/cluster/cost.py); [] without it."""
    if not args.step_seconds:
        return []
    from sweep.cluster.cost import cost_lines, load_step_time
    workers, gpus = resources(args, sweep)
    count = min(shard_count(args, sweep), len(cells)) if cells else 1
    return cost_lines(cells, load_step_time(args.step_seconds), gpus, workers, count, args.parallel)


def _site(args):
    """The site options of both engines, checked: {Launch field: value}."""
    mem = args.mem
    if mem and not re.fullmatch(r"[1-9][0-9]*[KMGT]?", mem):
        raise SweepConfigError(f"--mem: {mem!r:.40} is not SLURM memory; valid: a whole number with K, M, G or T (64G)")
    site = {"mem": mem, "time_limit": _sbatch_value("--time", args.time),
            "cpus_per_cell": _in_range("--cpus-per-cell", args.cpus_per_cell, 1, 1024),
            "cpus_per_gpu": _in_range("--cpus-per-gpu", args.cpus_per_gpu, 1, 256),
            "slurm_options": tuple((o, _sbatch_value(f"--{o}", getattr(args, o))) for o in SLURM_OPTIONS if getattr(args, o)),
            "setup": tuple(_one_line("--setup", line) for line in args.setup),
            "signal_seconds": _in_range("--signal-seconds", args.signal_seconds, 1, 65535),
            "grace_seconds": _in_range("--grace-seconds", args.grace_seconds, 1, 86400),
            "image": _one_line("--image", args.image), "claim_name": k8s.check_name("--claim-name", args.claim_name),
            "node_selector": tuple(k8s.parse_node_selector(t) for t in args.node_selector),
            "tolerations": tuple(k8s.parse_toleration(t) for t in args.toleration)}
    if args.namespace:
        site["namespace"] = k8s.check_name("--namespace", args.namespace)
    if args.claim_size:
        site["claim_size"] = k8s.check_quantity("--claim-size", args.claim_size)
    return site


def _k8s_path(option, given, default, under_volume):
    """Results and runs in the pods: the volume (default), a path under it, or a bucket."""
    if given == default:
        return under_volume
    if is_remote(given) or given.startswith(k8s.VOLUME + "/"):
        return given
    raise SweepConfigError(f"{option}: {given!r:.80} is not on the shared volume; valid for k8s: a path under "
                           f"{k8s.VOLUME}/ or a scheme:// bucket (gs://...)")


def build_launch(args, sweep):
    if not args.engine:
        raise SweepConfigError("submit: --engine is required; valid: slurm, k8s")
    count = shard_count(args, sweep)
    workers, gpus = resources(args, sweep)
    site = _site(args)
    python = _one_line("--python", args.python) if args.python else None
    if args.engine == "k8s":  # the image holds the code; configs, data, results and runs live on the volume
        repo = args.repo if args.repo != REPO_ROOT else K8S_REPO
        config = k8s.config_path(sweep.source)
        results = _k8s_path("--results", args.results, RESULTS_ROOT, f"{k8s.VOLUME}/results")
        runs = _k8s_path("--runs", args.runs, RUNS_ROOT, f"{k8s.VOLUME}/runs")
        python = python or "python"
    else:  # the tasks share this filesystem: by default this interpreter (virtualenv) runs them
        repo, config, results, runs = args.repo, _relative(sweep.source), _relative(args.results), _relative(args.runs)
        python = python or ("python" if args.setup else sys.executable)
    return launch.Launch(sweep=sweep, config=config, shards=count, parallel=args.parallel, gpus_per_cell=gpus,
                         results=results, runs=runs, repo=repo, python=python, allow_cpu=args.allow_cpu,
                         workers=workers, overrides=sweep.overrides, **site)


def _manifest_file(manifest):
    """<name>.json for a Job, <name>-<kind>.json for the Service and the claim."""
    suffix = "" if manifest["kind"] == "Job" else f"-{manifest['kind'].lower()}"
    return f"{manifest['metadata']['name']}{suffix}.json"


def write_files(engine, spec, out):
    """Writes the engine's files for `spec` (a launch.Launch) into `out`; returns ({name: path}, [argv])."""
    if engine == "slurm":
        files = launch.slurm_scripts(spec)
        commands = launch.slurm_commands(files, out)
    else:
        manifests = k8s.k8s_manifests(spec)
        files = {_manifest_file(m): json.dumps(m, indent=2) + "\n" for m in manifests}
        commands = [["kubectl", "apply", "-f", os.path.join(out, name)] for name in files]
    paths = {}
    for name, text in files.items():
        paths[name] = os.path.join(out, name)
        write_atomic(paths[name], text)
    return paths, commands


def _plan(args, sweep, spec):
    """Records (or checks) the shard plan beside the results, where this machine sees them (SLURM on a
    local or shared path); else the first task records it. A line for the summary."""
    if args.engine == "slurm" and not is_remote(args.results):
        return f"plan recorded in {ensure_plan(sweep, results_dir(args.results, sweep.name), spec.shards, '--shards')}"
    return f"plan: the first task records it in {plan_path(results_dir(spec.results, sweep.name))}"


def submit(args, sweep):
    spec = build_launch(args, sweep)
    costs = cost_lines(args, sweep, sweep.cells)
    plan = _plan(args, sweep, spec)  # refuses (writing nothing) a sweep or --shards that differs from the plan
    out = args.out or os.path.join(REPO_ROOT, "launch", sweep.name)
    paths, commands = write_files(args.engine, spec, out)
    print(f"sweep {sweep.name}: {len(sweep.cells)} cells in {spec.shards} shards, {spec.parallel} at once, "
          f"{spec.gpus_per_cell} GPUs and {spec.cpus} CPUs per task; {plan}")
    print("\n".join(launch.shard_summary(spec) + costs))
    for path in paths.values():
        print(f"wrote {path}")
    if args.engine == "k8s":
        print(f"before applying: copy {_relative(sweep.source)} to {spec.config} and the data its paths name "
              f"(data/..., runs/pretrained/...) to {k8s.VOLUME}/data, {k8s.VOLUME}/runs on claim {spec.claim_name}")
    print("submit with:" if not args.submit else "submitting:")
    for command in commands:
        print("  " + shlex.join(command))
    if args.submit:
        for command in commands:
            done = subprocess.run(command)
            if done.returncode:
                print(f"error: {shlex.join(command)} exited with {done.returncode}", file=sys.stderr)
                return 1
    where = "  (where the volume is mounted)" if args.engine == "k8s" and not is_remote(spec.results) else ""
    sets = "".join(f" --set {shlex.quote(text)}" for text in sweep.overrides)
    print(f"then gather with: python run_sweep.py gather {_relative(sweep.source)}{sets} --results {spec.results}{where}")
    return 0

"""`run_sweep.py submit`: launch files for the schedulers clusters already run (never a scheduler of ours).

This module: what every launcher needs (`Launch`) and the SLURM files: an sbatch array script, one
array task per shard (`run --shard auto`, the shard count exported in the script), `--requeue`,
SIGUSR1 to the runner before the time limit (it saves and exits 75; the script then requeues the
task), and the pretrain stage (if the sweep has one) as a job the array depends on
(`--dependency=afterok`). Kubernetes: sweep/cluster/k8s.py. No TensorFlow here.
"""
import dataclasses
import os
import shlex

from sweep.cluster.shards import partition
from sweep.store.status import PREEMPTED_EXIT  # the runner stopped on a signal after its cells saved

RUNNER = "run_sweep.py"


@dataclasses.dataclass(frozen=True)
class Launch:
    """What every launcher needs: the sweep, its shards, where things go and the site's settings."""
    sweep: object          # sweep.grid.spec.Sweep
    config: str            # the sweep file, as the cluster sees it
    shards: int
    parallel: int          # shards running at once
    gpus_per_cell: int     # per worker
    results: str
    runs: str
    repo: str              # the repository on the cluster (SLURM: shared filesystem) or in the image (k8s)
    python: str = "python"
    time_limit: str = "48:00:00"
    cpus_per_cell: int = 8
    cpus_per_gpu: int = 4
    mem: str = ""          # SLURM syntax (64G); "" = the site's default (SLURM) or 32Gi (k8s)
    image: str = "frn-detection-bench:latest"
    allow_cpu: bool = False
    workers: int = 1       # machines per cell (SLURM nodes / k8s pods), each a worker of its cells (sweep/cluster/worker_env.py)
    slurm_options: tuple = ()   # (("partition", "gpu"), ("account", ...), ...): one #SBATCH line each
    setup: tuple = ()           # shell lines run before srun (module load ..., source venv/bin/activate)
    signal_seconds: int = 300   # SIGUSR1 this long before the SLURM time limit
    namespace: str = ""
    claim_name: str = "frn-sweep-work"
    claim_size: str = ""        # "" = the claim exists; else also write a ReadWriteMany PersistentVolumeClaim
    node_selector: tuple = ()   # ((key, value), ...)
    tolerations: tuple = ()     # (toleration dict, ...)
    grace_seconds: int = 120    # k8s terminationGracePeriodSeconds: time for the cells to save
    overrides: tuple = ()       # run_sweep.py --set KEY=VALUE texts: every task applies them too

    @property
    def has_pretrain(self):
        return any(c.pretrain for c in self.sweep.cells)

    @property
    def cpus(self):
        """CPU cores per task (per worker): max(--cpus-per-cell, GPUs x --cpus-per-gpu)."""
        return max(self.cpus_per_cell, self.gpus_per_cell * self.cpus_per_gpu)

    def run_args(self, *extra):
        args = [self.python, RUNNER, "run", self.config, "--results", self.results, "--runs", self.runs, *extra]
        args += [word for text in self.overrides for word in ("--set", text)]
        return args + (["--allow-cpu"] if self.allow_cpu else [])


def default_shards(sweep):
    """One shard per cell: a failed or preempted task then costs one cell (`--shards` packs more)."""
    return max(1, len(sweep.cells))


def shard_summary(launch):
    """Lines: the cells and training steps of each shard (the packing the tasks will use)."""
    lines = []
    for index, cells in enumerate(partition(launch.sweep.cells, launch.shards)):
        steps = sum(c.steps for c in cells)
        lines.append(f"  shard {index}: {len(cells)} cells, {steps:,} steps")
    return lines


# -- SLURM ---------------------------------------------------------------------------------------------
def _directives(launch, output):
    options = [("cpus-per-task", launch.cpus), ("time", launch.time_limit), ("output", output)]
    options += [("gres", f"gpu:{launch.gpus_per_cell}")] if launch.gpus_per_cell else []
    options += [("mem", launch.mem)] if launch.mem else []
    return [f"#SBATCH --{option}={value}" for option, value in [*options, *launch.slurm_options]]


def _prologue(launch):
    """cd, the site's setup lines (before `set -u`: activate scripts read unset variables), srun's CPUs."""
    return ["set -eo pipefail", f"cd {shlex.quote(launch.repo)}", *launch.setup, "set -u",
            "# srun no longer inherits --cpus-per-task (SLURM >= 22.05)",
            'export SRUN_CPUS_PER_TASK="$SLURM_CPUS_PER_TASK"']


def _requeue_directives(launch):
    # no B:, so SLURM signals the step's tasks (the runner under srun), not the batch shell; the runner's
    # cells save a checkpoint and it exits 75, and the script requeues the job, which resumes them
    return ["#SBATCH --requeue", "#SBATCH --open-mode=append", f"#SBATCH --signal=USR1@{launch.signal_seconds}"]


def _srun_then_requeue(srun, job):
    """Shell lines: run `srun`; on the runner's 75 (stopped on a signal, saved) requeue `job` and exit 0."""
    return ["rc=0", f"{srun} || rc=$?", f'if [ "$rc" -eq {PREEMPTED_EXIT} ]; then', f'  scontrol requeue "{job}"',
            "  exit 0", "fi", 'exit "$rc"']


def slurm_scripts(launch):
    """{file name: text}: the array script, and the pretrain stage script when the sweep has one."""
    name = f"frn-{launch.sweep.name}"
    run_cells = shlex.join(launch.run_args("--shard", "auto"))
    nodes = []  # the array's tasks only: the pretrain stage is one process on one node
    if launch.workers > 1:  # every node runs the shard as one worker of each cell; TF_CONFIG from SLURM
        nodes = [f"#SBATCH --nodes={launch.workers}", "#SBATCH --ntasks-per-node=1"]
        run_cells = shlex.join([launch.python, "-m", "sweep.cluster.worker_env", "slurm", "--gpus-per-task",
                                str(launch.gpus_per_cell), "--"]) + " " + run_cells
    array = [
        "#!/bin/bash",
        f"# Generated by `run_sweep.py submit {launch.config} --engine slurm`: {launch.shards} shards of "
        f"{len(launch.sweep.cells)} cells, {launch.parallel} at once, {launch.workers} node(s) per cell.",
        f"#SBATCH --job-name={name}",
        f"#SBATCH --array=0-{launch.shards - 1}%{launch.parallel}",
        *_requeue_directives(launch),
        *_directives(launch, "slurm-%x-%A_%a.out"),
        *nodes,
        *_prologue(launch),
        "# the array's size, for --shard auto: a resubmission of some indexes (sbatch --array=17,42) keeps it",
        f"export SWEEP_SHARD_COUNT={launch.shards}",
        *_srun_then_requeue(f"srun --kill-on-bad-exit=1 {run_cells}", "${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"),
    ]
    files = {f"{launch.sweep.name}.sbatch": "\n".join(array) + "\n"}
    if launch.has_pretrain:
        stage = ["#!/bin/bash",
                 f"# Generated by `run_sweep.py submit {launch.config} --engine slurm`: the pretrain stage "
                 f"the fine-tuned cells wait for.",
                 f"#SBATCH --job-name={name}-pretrain", *_requeue_directives(launch),
                 *_directives(launch, "slurm-%x-%j.out"), *_prologue(launch),
                 *_srun_then_requeue(f"srun {shlex.join(launch.run_args('--stage', 'pretrain'))}", "${SLURM_JOB_ID}")]
        files[f"{launch.sweep.name}-pretrain.sbatch"] = "\n".join(stage) + "\n"
    return files


def slurm_commands(files, folder):
    paths = {name: os.path.join(folder, name) for name in files}
    array = next(p for n, p in paths.items() if not n.endswith("-pretrain.sbatch"))
    pretrain = next((p for n, p in paths.items() if n.endswith("-pretrain.sbatch")), None)
    if not pretrain:
        return [["sbatch", array]]
    # the array waits for the pretrain job: sbatch --parsable prints its job id
    return [["bash", "-c", f"id=$(sbatch --parsable {shlex.quote(pretrain)}) && "
                           f"sbatch --dependency=afterok:${{id%%;*}} {shlex.quote(array)}"]]

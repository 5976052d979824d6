"""Starts a sweep runner as one worker of multi-worker cells: TF_CONFIG from the scheduler, then exec.

    srun python -m sweep.cluster.worker_env slurm --gpus-per-task 8 -- python run_sweep.py run CONFIG --shard auto
    python -m sweep.cluster.worker_env k8s --workers 2 --job frn-x --service frn-x -- python run_sweep.py run ...

Every worker of a cell runs the same shard (so the same cells, in the same order); each cell's
child joins them in one MultiWorkerMirroredStrategy (detection/strategy.py); worker 0 is the
chief, the only one that evaluates and writes results (detection/multi_worker.py).
- slurm: TF_CONFIG from TensorFlow's SlurmClusterResolver over the job step's tasks, with the GPU
  count given explicitly (it would otherwise run nvidia-smi) and a port derived from the job id
  (array tasks sharing a node get different ports).
- k8s: an Indexed Job with `workers` pods per shard: completion index i is worker i % workers of
  shard i // workers; peers are `<job>-<index>.<service>` (a headless Service, pod subdomain).
  JOB_COMPLETION_INDEX is rewritten to the shard index, so `--shard auto` reads the shard.
"""
import argparse
import json
import os
import sys

PORT_BASE, PORT_SPAN = 20000, 40000
K8S_PORT = 2222


def slurm_tf_config(gpus_per_task):
    """TF_CONFIG of this SLURM task, from the job step's variables in os.environ (where the resolver
    reads them too); the port comes from the job id, so concurrent array tasks differ."""
    import tensorflow as tf
    SlurmClusterResolver = tf.distribute.cluster_resolver.SlurmClusterResolver
    environ = os.environ
    tasks = int(environ.get("SLURM_STEP_NUM_TASKS", environ.get("SLURM_NTASKS", "1")))
    resolver = SlurmClusterResolver(jobs={"worker": tasks}, port_base=PORT_BASE + int(environ["SLURM_JOB_ID"]) % PORT_SPAN,
                                    gpus_per_node=max(1, gpus_per_task) * _max_tasks_per_node(),
                                    gpus_per_task=max(1, gpus_per_task), auto_set_gpu=False)
    return {"cluster": resolver.cluster_spec().as_dict(), "task": {"type": resolver.task_type, "index": resolver.task_id}}


def _max_tasks_per_node():
    """The most tasks any node of the step runs ('2(x3),1' -> 2)."""
    text = os.environ.get("SLURM_STEP_TASKS_PER_NODE", os.environ.get("SLURM_TASKS_PER_NODE", "1"))
    return max(int(part.split("(")[0]) for part in text.split(","))


def k8s_tf_config(workers, job, service, environ=os.environ):
    """(TF_CONFIG, shard index) of the pod with JOB_COMPLETION_INDEX in an Indexed Job of `workers` pods per shard."""
    index = int(environ["JOB_COMPLETION_INDEX"])
    shard, worker = divmod(index, workers)
    peers = [f"{job}-{shard * workers + w}.{service}:{K8S_PORT}" for w in range(workers)]
    return {"cluster": {"worker": peers}, "task": {"type": "worker", "index": worker}}, shard


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("engine", choices=["slurm", "k8s"])
    parser.add_argument("--gpus-per-task", type=int, default=0, help="slurm: GPUs each worker uses")
    parser.add_argument("--workers", type=int, default=1, help="k8s: pods (workers) per cell")
    parser.add_argument("--job", default="", help="k8s: the Indexed Job's name")
    parser.add_argument("--service", default="", help="k8s: the headless Service (the pods' subdomain)")
    argv = sys.argv[1:] if argv is None else argv
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        parser.error("give the command to run after --")
    split = argv.index("--")
    args, command = parser.parse_args(argv[:split]), argv[split + 1:]
    env = dict(os.environ)
    if args.engine == "slurm":
        config = slurm_tf_config(args.gpus_per_task)
    else:
        config, shard = k8s_tf_config(args.workers, args.job, args.service, env)
        env["JOB_COMPLETION_INDEX"] = str(shard)
    env["TF_CONFIG"] = json.dumps(config)
    print(f"worker_env: {config['task']['type']} {config['task']['index']} of {config['cluster']}", file=sys.stderr,
          flush=True)
    os.execvpe(command[0], command, env)


if __name__ == "__main__":
    main()

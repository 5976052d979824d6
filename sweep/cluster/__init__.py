"""Cluster: turning a sweep into the commands and launch files a scheduler runs (Slurm, Kubernetes).

shards.py splits the cells into job-array tasks and gives the runner a ShardTask coordination
(no claims, the pretrain stage waited for); launch.py / k8s.py write the sbatch script and the
Indexed Job; submit.py is the `submit` command; worker_env.py sets TF_CONFIG for multi-worker
cells; cost.py estimates GPU-hours. The local runner knows none of this: a new scheduler is a
launch module here that writes `run_sweep.py run CONFIG --shard I/N` commands.
"""

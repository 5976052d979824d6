"""Kubernetes launch files: an Indexed Job of the shards (and a pretrain Job, a headless Service for
multi-worker cells, a PersistentVolumeClaim when asked), from a sweep.cluster.launch.Launch. No TensorFlow here.

The image holds the code (Dockerfile); the sweep file, data, pretrained checkpoints, results and run
directories live on a shared ReadWriteMany volume mounted at /work (results and runs may be gs://
instead). The volume's data/ and runs/ are also mounted at <repo>/data and <repo>/runs, so a sweep
file's relative paths (data/coco/train*, runs/pretrained/...) mean the same there as on a workstation.
"""
import re

from sweep.errors import SweepConfigError
from sweep.store.status import PREEMPTED_EXIT

VOLUME = "/work"   # the shared volume's mount point
EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
CONFIG_ERROR = 2   # run_sweep.py's exit code for a bad config: retrying the index cannot help
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")          # RFC 1123 label (namespaces, claims)
_LABEL_KEY = re.compile(r"([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
_QUANTITY = re.compile(r"[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?")


def job_name(sweep_name):
    return f"frn-{sweep_name}".lower().replace("_", "-").replace(".", "-")[:52]


def config_path(source):
    """Where the pods read the sweep file: on the volume, configs/<file name> (copied there by the user)."""
    return f"{VOLUME}/configs/{source.replace(chr(92), '/').rsplit('/', 1)[-1]}"


def check_name(option, value):
    if not (_NAME.fullmatch(value) and len(value) <= 63):
        raise SweepConfigError(f"{option}: {value!r:.70} is not a Kubernetes name; valid: lowercase letters, digits "
                               f"and '-', at most 63, starting and ending with a letter or digit")
    return value


def check_quantity(option, value):
    if not _QUANTITY.fullmatch(value):
        raise SweepConfigError(f"{option}: {value!r:.40} is not a Kubernetes quantity; valid: e.g. 500Gi, 2Ti")
    return value


def parse_node_selector(text):
    """'KEY=VALUE' -> (key, value)."""
    key, sep, value = text.partition("=")
    if not (sep and _LABEL_KEY.fullmatch(key) and _LABEL_VALUE.fullmatch(value)):
        raise SweepConfigError(f"--node-selector: {text!r:.80} is not KEY=VALUE (a label, e.g. "
                               f"nvidia.com/gpu.product=NVIDIA-H100-80GB-HBM3)")
    return key, value


def parse_toleration(text):
    """'KEY[=VALUE]:EFFECT' -> a toleration (operator Equal with a value, Exists without)."""
    head, sep, effect = text.rpartition(":")
    key, has_value, value = head.partition("=")
    if not (sep and effect in EFFECTS and _LABEL_KEY.fullmatch(key) and _LABEL_VALUE.fullmatch(value)):
        raise SweepConfigError(f"--toleration: {text!r:.80} is not KEY[=VALUE]:EFFECT; valid effects: "
                               f"{', '.join(EFFECTS)} (e.g. nvidia.com/gpu:NoSchedule)")
    if has_value:
        return {"key": key, "operator": "Equal", "value": value, "effect": effect}
    return {"key": key, "operator": "Exists", "effect": effect}


def _memory(mem):
    """SLURM's 64G -> Kubernetes' 64Gi (no unit: megabytes, as in SLURM)."""
    if not mem:
        return "32Gi"
    return f"{mem}i" if mem[-1] in "KMGT" else f"{mem}Mi"


def _container(launch, args):
    resources = {"requests": {"cpu": str(launch.cpus), "memory": _memory(launch.mem)}}
    if launch.gpus_per_cell:
        resources["limits"] = {"nvidia.com/gpu": str(launch.gpus_per_cell)}
    mounts = [{"name": "work", "mountPath": VOLUME},
              {"name": "work", "mountPath": f"{launch.repo}/data", "subPath": "data"},
              {"name": "work", "mountPath": f"{launch.repo}/runs", "subPath": "runs"},
              {"name": "dshm", "mountPath": "/dev/shm"}]  # NCCL's shared memory (the default is 64 MiB)
    return {"name": "cell", "image": launch.image, "workingDir": launch.repo, "command": args,
            "env": [{"name": "SWEEP_SHARD_COUNT", "value": str(launch.shards)}],
            "resources": resources, "volumeMounts": mounts}


def _failure_policy(action):
    """Evictions and preemptions (DisruptionTarget), and a runner that stopped on SIGTERM after its cells
    saved (exit 75, e.g. a deleted pod), do not count against the retries; a config error (exit 2) is
    not retried. Needs restartPolicy: Never."""
    return {"rules": [
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
        {"action": "Ignore", "onExitCodes": {"containerName": "cell", "operator": "In", "values": [PREEMPTED_EXIT]}},
        {"action": action, "onExitCodes": {"containerName": "cell", "operator": "In", "values": [CONFIG_ERROR]}}]}


def k8s_manifests(launch):
    """[manifest dict]: the claim (with --claim-size), the pretrain Job (if any), the Service (several
    workers per cell), then the Indexed Job of the shards.

    With several workers per cell, each shard is `workers` consecutive completion indexes that find
    each other through a headless Service (the pods' subdomain); Kubernetes does not start them as a
    gang, so a worker waits for its peers (Kueue or JobSet add gang admission where a cluster has them).
    """
    name = job_name(launch.sweep.name)
    labels = {"app.kubernetes.io/name": "frn-detection-bench", "frn/sweep": name[4:]}

    def metadata(object_name):
        return {"name": object_name, "labels": labels, **({"namespace": launch.namespace} if launch.namespace else {})}

    pod = {"restartPolicy": "Never", "terminationGracePeriodSeconds": launch.grace_seconds,
           "volumes": [{"name": "work", "persistentVolumeClaim": {"claimName": launch.claim_name}},
                       {"name": "dshm", "emptyDir": {"medium": "Memory"}}]}
    if launch.node_selector:
        pod["nodeSelector"] = dict(launch.node_selector)
    if launch.tolerations:
        pod["tolerations"] = [dict(t) for t in launch.tolerations]
    manifests = []
    if launch.claim_size:
        manifests.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": metadata(launch.claim_name),
                          "spec": {"accessModes": ["ReadWriteMany"],
                                   "resources": {"requests": {"storage": launch.claim_size}}}})
    if launch.has_pretrain:
        manifests.append({
            "apiVersion": "batch/v1", "kind": "Job", "metadata": metadata(f"{name}-pretrain"),
            "spec": {"backoffLimit": 3, "podFailurePolicy": _failure_policy("FailJob"),
                     "template": {"metadata": {"labels": labels}, "spec": {
                         **pod, "containers": [_container(launch, launch.run_args("--stage", "pretrain"))]}}}})
    workers = launch.workers
    args = launch.run_args("--shard", "auto")
    if workers > 1:
        args = [launch.python, "-m", "sweep.cluster.worker_env", "k8s", "--workers", str(workers), "--job", name,
                "--service", name, "--", *args]
        pod["subdomain"] = name
        manifests.append({"apiVersion": "v1", "kind": "Service", "metadata": metadata(name),
                          "spec": {"clusterIP": "None", "selector": {"batch.kubernetes.io/job-name": name},
                                   "ports": [{"name": "collective", "port": 2222}]}})
    manifests.append({
        "apiVersion": "batch/v1", "kind": "Job", "metadata": metadata(name),
        "spec": {
            "completionMode": "Indexed", "completions": launch.shards * workers,
            "parallelism": launch.parallel * workers,
            "backoffLimitPerIndex": 3, "maxFailedIndexes": launch.shards * workers,
            "podFailurePolicy": _failure_policy("FailIndex"),
            # a replacement pod starts only once the old one has failed: two pods of one index would
            # train the same cell at once
            "podReplacementPolicy": "Failed",
            "template": {"metadata": {"labels": labels}, "spec": {**pod, "containers": [_container(launch, args)]}}}})
    return manifests

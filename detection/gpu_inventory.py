"""Which GPUs a process may use and how much of their memory, without TensorFlow.

The sweep runner never starts TensorFlow (it would map nearly all memory of every visible GPU for
the whole sweep); it learns the GPUs from `CUDA_VISIBLE_DEVICES` or `nvidia-smi` and gives each
of its `jobs` lanes a disjoint set (`lane_environments`). A cell then sizes its logical GPUs from
the memory its GPUs have free, times its share (`MEMORY_SHARE_ENV`, below 1 when lanes share a GPU).
"""
import os
import shutil
import subprocess

MEMORY_SHARE_ENV = "FRN_GPU_MEMORY_SHARE"  # fraction of each visible GPU's free memory a cell may take
DEFAULT_GPU_MEMORY_MB = 16_000  # when nvidia-smi cannot tell (logical GPUs need a memory limit)
_QUERY = ["nvidia-smi", "--query-gpu=index,uuid,memory.free", "--format=csv,noheader,nounits"]


def _nvidia_smi():
    """[(index, uuid, free MiB)] of every GPU of the machine, or [] without nvidia-smi."""
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(_QUERY, capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    rows = []
    for line in out.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 3 and parts[0].isdigit() and parts[2].isdigit():
            rows.append((parts[0], parts[1], int(parts[2])))
    return rows


def visible_gpus(environ=None, query=None):
    """[(name, free MiB or None)] of the GPUs this process may use, in CUDA's order: the entries of
    `CUDA_VISIBLE_DEVICES` (indexes or UUIDs) when it is set, else every GPU nvidia-smi lists."""
    environ = os.environ if environ is None else environ
    machine = (query or _nvidia_smi)()
    by_name = {name: free for index, uuid, free in machine for name in (index, uuid)}
    listed = environ.get("CUDA_VISIBLE_DEVICES")
    if listed is None:
        return [(index, free) for index, _, free in machine]
    names = []
    for name in (n.strip() for n in listed.split(",")):
        if not name or name.startswith("-"):  # CUDA stops at the first invalid entry ("-1" hides all)
            break
        names.append(name)
    return [(name, by_name.get(name)) for name in names]


def lane_environments(gpus, jobs):
    """[env updates of lane i] for `jobs` lanes over `gpus` (names): each lane a disjoint, contiguous
    set of len(gpus) // jobs GPUs; with fewer GPUs than lanes, lane i shares GPU i % G with the other
    lanes on it, each taking an equal share of its memory. [{}] * jobs without GPUs."""
    if not gpus:
        return [{} for _ in range(jobs)]
    if jobs <= len(gpus):
        per = len(gpus) // jobs
        return [{"CUDA_VISIBLE_DEVICES": ",".join(gpus[i * per:(i + 1) * per])} for i in range(jobs)]
    sharing = [sum(1 for j in range(jobs) if j % len(gpus) == g) for g in range(len(gpus))]
    return [{"CUDA_VISIBLE_DEVICES": gpus[i % len(gpus)], MEMORY_SHARE_ENV: repr(1 / sharing[i % len(gpus)])}
            for i in range(jobs)]


def memory_share(environ=None):
    """The fraction of each GPU's free memory this process may take (1 unless lanes share a GPU)."""
    environ = os.environ if environ is None else environ
    try:
        share = float(environ.get(MEMORY_SHARE_ENV, "1"))
    except ValueError:
        return 1.0
    return share if 0 < share <= 1 else 1.0


def usable_memory_mb(environ=None, query=None):
    """MiB a cell may take on each of its GPUs: the smallest free memory among them (90% of it, for
    TensorFlow's own overhead) times the memory share; DEFAULT_GPU_MEMORY_MB when nvidia-smi cannot tell."""
    free = [mb for _, mb in visible_gpus(environ, query) if mb is not None]
    base = int(0.9 * min(free)) if free else DEFAULT_GPU_MEMORY_MB
    return int(base * memory_share(environ))

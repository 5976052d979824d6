"""Shards for job arrays: a stable, disjoint, complete partition; `--shard auto`; plan.json; launch files."""
import json
import os
import subprocess
import sys

import kubernetes_validate
import pytest
import yaml

from sweep.cluster import shards
from sweep.errors import SweepConfigError
from sweep.grid.spec import load, parse
from tests.sweep_documents import minimal_sweep

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAPER = os.path.join(ROOT, "configs", "coco_retinanet_paper.yaml")


def _cells(count):
    """`count` cells with steps 100 x 16 / B over four batch sizes (unequal work)."""
    seeds = -(-count // 4)
    sweep = parse(minimal_sweep(**{"blocks/scratch/grid/norm": ["gn"], "blocks/scratch/grid/batch": [16, 8, 4, 2],
                                   "blocks/scratch/grid/seed": list(range(seeds))}))
    return list(sweep.cells)[:count]


@pytest.mark.parametrize("count", [1, 2, 3, 5, 7, 12, 13, 40])
@pytest.mark.parametrize("shard_count", [1, 2, 3, 4, 8, 16, 50])
def test_partition_is_disjoint_complete_stable_and_balanced(count, shard_count):
    cells = _cells(count)
    parts = shards.partition(cells, shard_count)
    assert len(parts) == shard_count
    flat = [c.id for part in parts for c in part]
    assert sorted(flat) == sorted(c.id for c in cells) and len(set(flat)) == len(flat)  # complete, disjoint
    assert [[c.id for c in p] for p in shards.partition(list(cells), shard_count)] == [[c.id for c in p] for p in parts]
    for part in parts:  # each shard keeps the sweep's order
        assert [cells.index(c) for c in part] == sorted(cells.index(c) for c in part)
    loads = [sum(c.steps for c in part) for part in parts]
    if shard_count <= count:  # greedy longest-first: no shard exceeds the lightest by more than the longest cell
        assert max(loads) - min(loads) <= max(c.steps for c in cells)
    else:
        assert sum(1 for part in parts if part) == count


def test_one_shard_per_cell_when_there_are_enough():
    cells = _cells(5)
    assert [len(p) for p in shards.partition(cells, 5)] == [1] * 5


@pytest.mark.parametrize("environ, expected", [
    ({"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "8"}, (3, 8)),
    ({"JOB_COMPLETION_INDEX": "0", "SWEEP_SHARD_COUNT": "72"}, (0, 72)),
    # failed indexes resubmitted (sbatch --array=17,42): the script's SWEEP_SHARD_COUNT, not SLURM's count of 2
    ({"SLURM_ARRAY_TASK_ID": "42", "SLURM_ARRAY_TASK_COUNT": "2", "SWEEP_SHARD_COUNT": "72"}, (42, 72)),
])
def test_shard_auto_reads_the_engines_variables(environ, expected):
    assert shards.parse_shard("auto", environ) == expected


@pytest.mark.parametrize("text, environ, message", [
    ("auto", {}, "none of SLURM_ARRAY_TASK_ID"),
    ("auto", {"JOB_COMPLETION_INDEX": "1"}, "SWEEP_SHARD_COUNT is not"),
    ("3/3", {}, "3/3 is out of range"),
    ("-1/4", {}, "-1/4 is out of range"),
    ("a/4", {}, "not whole numbers"),
    ("2", {}, "is not I/N"),
    ("auto", {"SLURM_ARRAY_TASK_ID": "9", "SLURM_ARRAY_TASK_COUNT": "4"}, "9/4 is out of range"),
])
def test_bad_shards_are_refused(text, environ, message):
    with pytest.raises(SweepConfigError, match=message):
        shards.parse_shard(text, environ)


def test_plan_json_refuses_an_edited_config(tmp_path):
    sweep = parse(minimal_sweep(), "a.yaml")
    path = shards.ensure_plan(sweep, str(tmp_path), 4)
    recorded = json.loads(open(path).read())
    assert recorded["cells"] == [c.id for c in sweep.cells] and recorded["shards"] == 4
    shards.ensure_plan(sweep, str(tmp_path), 4)  # the same sweep: accepted
    edited = parse(minimal_sweep(**{"blocks/scratch/grid/batch": [16, 8]}), "a.yaml")
    with pytest.raises(SweepConfigError, match="differ from the plan recorded"):
        shards.ensure_plan(edited, str(tmp_path), 4)
    with pytest.raises(SweepConfigError, match="planned for 4"):
        shards.ensure_plan(sweep, str(tmp_path), 8)


def test_a_shard_run_against_an_edited_config_exits_2(tmp_path):
    config = tmp_path / "s.yaml"
    config.write_text(yaml.safe_dump(minimal_sweep("s")))
    shards.ensure_plan(load(str(config)), str(tmp_path / "results" / "s"), 2)
    config.write_text(yaml.safe_dump(minimal_sweep("s", **{"base/seed": 1})))
    result = subprocess.run([sys.executable, "run_sweep.py", "run", str(config), "--shard", "0/2", "--results",
                             str(tmp_path / "results"), "--runs", str(tmp_path / "runs")], cwd=ROOT,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 2 and "differ from the plan recorded" in result.stderr, result.stderr
    assert not (tmp_path / "runs").exists()


def _submit(tmp_path, engine, config=PAPER, *extra):
    """SLURM: results under tmp_path (the plan is recorded there); k8s: on the pods' volume (nothing here)."""
    out = tmp_path / engine
    results = ["--results", str(tmp_path / "results")] if engine == "slurm" else []
    result = subprocess.run([sys.executable, "run_sweep.py", "submit", config, "--engine", engine, "--out", str(out),
                             *results, "--parallel", "6", *extra], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return out, result.stdout


def test_sbatch_script_carries_the_array_and_passes_bash_n(tmp_path):
    out, stdout = _submit(tmp_path, "slurm")
    script = (out / "coco_retinanet_paper.sbatch").read_text()
    for directive in ("#SBATCH --array=0-71%6", "#SBATCH --requeue", "#SBATCH --open-mode=append",
                      "#SBATCH --signal=USR1@300", "#SBATCH --gres=gpu:8", "#SBATCH --cpus-per-task=32",
                      "run_sweep.py run configs/coco_retinanet_paper.yaml", "--shard auto", "export SWEEP_SHARD_COUNT=72",
                      'export SRUN_CPUS_PER_TASK="$SLURM_CPUS_PER_TASK"', "srun --kill-on-bad-exit=1", "scontrol requeue"):
        assert directive in script, directive
    # the runner under srun gets the signal, not the batch shell (srun would SIGKILL it on its own SIGTERM)
    assert "B:" not in script and "trap" not in script
    assert subprocess.run(["bash", "-n", str(out / "coco_retinanet_paper.sbatch")]).returncode == 0
    assert "sbatch " in stdout and "72 shards" in stdout
    assert json.loads((tmp_path / "results" / "coco_retinanet_paper" / "plan.json").read_text())["shards"] == 72


def test_the_pretrain_stage_is_a_job_the_array_depends_on(tmp_path):
    out, stdout = _submit(tmp_path, "slurm", os.path.join(ROOT, "configs", "default.yaml"), "--shards", "4")
    stage = (out / "default-pretrain.sbatch").read_text()
    assert "--stage pretrain" in stage and subprocess.run(["bash", "-n", str(out / "default-pretrain.sbatch")]).returncode == 0
    # a time limit or preemption saves and requeues the stage too (its job id, not an array task's)
    assert "#SBATCH --signal=USR1@300" in stage and "#SBATCH --requeue" in stage
    assert 'scontrol requeue "${SLURM_JOB_ID}"' in stage
    assert "--dependency=afterok" in stdout and "#SBATCH --array=0-3%6" in (out / "default.sbatch").read_text()
    assert "#SBATCH --gres" not in (out / "default.sbatch").read_text()  # embedded scale: CPU tasks


def test_kubernetes_indexed_job_passes_the_schema(tmp_path):
    out, _ = _submit(tmp_path, "k8s", os.path.join(ROOT, "configs", "default.yaml"), "--shards", "4")
    names = sorted(os.listdir(out))
    assert names == ["frn-default-pretrain.json", "frn-default.json"]
    job = json.loads((out / "frn-default.json").read_text())
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 4, 6)
    assert spec["podReplacementPolicy"] == "Failed" and spec["backoffLimitPerIndex"] == 3
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["containers"][0]["command"][-2:] == ["--shard", "auto"]
    assert {"name": "SWEEP_SHARD_COUNT", "value": "4"} in pod["containers"][0]["env"]
    for name in names:
        kubernetes_validate.validate(json.loads((out / name).read_text()), "1.30.0", strict=True)
    job["spec"]["completionsMode"] = "Indexed"  # a typo the schema must catch
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(job, "1.30.0", strict=True)


def test_multi_worker_cells_on_slurm_get_nodes_and_a_tf_config_wrapper(tmp_path):
    out, _ = _submit(tmp_path, "slurm", PAPER, "--workers-per-cell", "2")
    script = (out / "coco_retinanet_paper.sbatch").read_text()
    for directive in ("#SBATCH --nodes=2", "#SBATCH --ntasks-per-node=1", "#SBATCH --gres=gpu:4",
                      "-m sweep.cluster.worker_env slurm --gpus-per-task 4 -- ", "--shard auto"):
        assert directive in script, directive
    assert subprocess.run(["bash", "-n", str(out / "coco_retinanet_paper.sbatch")]).returncode == 0
    refused = subprocess.run([sys.executable, "run_sweep.py", "submit", PAPER, "--engine", "slurm", "--out",
                              str(tmp_path / "x"), "--workers-per-cell", "3"], cwd=ROOT, capture_output=True, text=True)
    assert refused.returncode == 2 and "--workers-per-cell: 3 does not divide the cells' replicas [8]" in refused.stderr
    staged, _ = _submit(tmp_path / "staged", "slurm", os.path.join(ROOT, "configs", "default.yaml"), "--shards", "4",
                        "--workers-per-cell", "2")
    assert "#SBATCH --nodes=2" in (staged / "default.sbatch").read_text()
    assert "--nodes" not in (staged / "default-pretrain.sbatch").read_text()  # the pretrain step is one process


def test_multi_worker_cells_on_kubernetes_pass_the_schema(tmp_path):
    out, _ = _submit(tmp_path, "k8s", PAPER, "--shards", "4", "--workers-per-cell", "2")
    assert sorted(os.listdir(out)) == ["frn-coco-retinanet-paper-service.json", "frn-coco-retinanet-paper.json"]
    job = json.loads((out / "frn-coco-retinanet-paper.json").read_text())
    service = json.loads((out / "frn-coco-retinanet-paper-service.json").read_text())
    assert (job["spec"]["completions"], job["spec"]["parallelism"]) == (8, 12)  # 2 pods per shard
    pod = job["spec"]["template"]["spec"]
    assert pod["subdomain"] == service["metadata"]["name"] and service["spec"]["clusterIP"] == "None"
    assert pod["containers"][0]["command"][1:8] == ["-m", "sweep.cluster.worker_env", "k8s", "--workers", "2", "--job",
                                                    "frn-coco-retinanet-paper"]
    for manifest in (job, service):
        kubernetes_validate.validate(manifest, "1.30.0", strict=True)


def test_worker_env_maps_k8s_indexes_to_shards_and_workers():
    from sweep.cluster.worker_env import k8s_tf_config
    config, shard = k8s_tf_config(2, "frn-x", "svc", {"JOB_COMPLETION_INDEX": "5"})
    assert shard == 2 and config == {"cluster": {"worker": ["frn-x-4.svc:2222", "frn-x-5.svc:2222"]},
                                     "task": {"type": "worker", "index": 1}}


@pytest.mark.parametrize("nodes, tasks_per_node, procid, expected", [
    ("node[07-08]", "1(x2)", "1", (["node07:24242", "node08:24242"], 1)),
    ("node1", "2", "0", (["node1:24242", "node1:24243"], 0)),  # two workers on one node: two ports
])
def test_worker_env_builds_tf_config_from_slurm(monkeypatch, nodes, tasks_per_node, procid, expected):
    """TensorFlow's SlurmClusterResolver over the step's tasks; the port comes from the job id."""
    env = {"SLURM_PROCID": procid, "SLURM_STEP_NUM_TASKS": "2", "SLURM_NTASKS": "2", "SLURM_STEP_NODELIST": nodes,
           "SLURM_JOB_NODELIST": nodes, "SLURM_STEP_TASKS_PER_NODE": tasks_per_node, "SLURM_JOB_ID": "4242"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    from sweep.cluster.worker_env import slurm_tf_config
    config = slurm_tf_config(4)
    assert (config["cluster"]["worker"], config["task"]["index"]) == expected and config["task"]["type"] == "worker"


def test_worker_env_execs_the_command_with_tf_config_and_the_shard_index(tmp_path):
    env = {**os.environ, "JOB_COMPLETION_INDEX": "3"}
    probe = "import json, os; print(json.dumps([json.loads(os.environ['TF_CONFIG']), os.environ['JOB_COMPLETION_INDEX']]))"
    result = subprocess.run([sys.executable, "-m", "sweep.cluster.worker_env", "k8s", "--workers", "2", "--job", "j",
                             "--service", "s", "--", sys.executable, "-c", probe], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    config, index = json.loads(result.stdout)
    assert index == "1" and config["task"] == {"type": "worker", "index": 1}

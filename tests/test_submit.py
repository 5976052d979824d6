"""`run_sweep.py submit`: site options, remote paths, the plan before any file, the SLURM script's signal
and requeue (run under bash with a fake srun), Kubernetes manifests (schema-validated), cost, exit codes."""
import json
import os
import re
import shutil
import stat
import subprocess
import sys

import kubernetes_validate
import pytest
import yaml

import run_sweep
from sweep.cluster import cost, shards
from sweep.grid.spec import load, parse
from tests.sweep_documents import minimal_sweep

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAPER = os.path.join(ROOT, "configs", "coco_retinanet_paper.yaml")
DEFAULT = os.path.join(ROOT, "configs", "default.yaml")
K8S_VERSION = "1.30.0"


def _main(capsys, *argv):
    """run_sweep.main in this process (no TensorFlow for plan/submit): (exit code, stdout, stderr)."""
    code = run_sweep.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _slurm(capsys, tmp_path, *extra, config=PAPER):
    code, out, err = _main(capsys, "submit", config, "--engine", "slurm", "--out", tmp_path / "launch",
                           "--results", tmp_path / "results", *extra)
    assert code == 0, err
    name = load(config).name
    return (tmp_path / "launch" / f"{name}.sbatch").read_text(), out


def _k8s(capsys, tmp_path, *extra, config=DEFAULT):
    code, out, err = _main(capsys, "submit", config, "--engine", "k8s", "--out", tmp_path / "launch", *extra)
    assert code == 0, err
    manifests = {p: json.loads((tmp_path / "launch" / p).read_text()) for p in sorted(os.listdir(tmp_path / "launch"))}
    for manifest in manifests.values():
        kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
    return manifests, out


# -- defect: gs:// lost a slash --------------------------------------------------------------------------
def test_remote_results_and_runs_reach_the_tasks_unchanged(capsys, tmp_path):
    remote = ("--results", "gs://bucket/r", "--runs", "gs://bucket/runs")
    script, out = _slurm(capsys, tmp_path, *remote[2:], "--results", "gs://bucket/r")
    assert "--results gs://bucket/r --runs gs://bucket/runs" in script and "gs:/b" not in script
    assert "first task records it in gs://bucket/r/coco_retinanet_paper/plan.json" in out
    assert not (tmp_path / "results").exists()  # no TensorFlow, no bucket access at submit time
    manifests, _ = _k8s(capsys, tmp_path / "k", *remote)
    command = manifests["frn-default.json"]["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[command.index("--results") + 1] == "gs://bucket/r" and "gs://bucket/runs" in command


# -- defect: resubmitted indexes read the array's size from SLURM ------------------------------------------
def _fake_slurm(tmp_path, srun_exit):
    """srun and scontrol on PATH: srun records the shard `--shard auto` resolves and srun's environment,
    then exits `srun_exit`; scontrol records its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    probe = ("import json, os, sys; from sweep.cluster.shards import parse_shard; "
             "json.dump({'shard': parse_shard('auto'), 'cpus': os.environ['SRUN_CPUS_PER_TASK'], "
             "'setup': os.environ.get('FROM_SETUP'), 'argv': sys.argv[1:]}, open(os.environ['PROBE'], 'w'))")
    (bin_dir / "srun").write_text(f"#!/bin/bash\n{sys.executable} -c \"{probe}\" \"$@\"\nexit {srun_exit}\n")
    (bin_dir / "scontrol").write_text("#!/bin/bash\necho \"$@\" >> \"$SCONTROL_LOG\"\n")
    for name in ("srun", "scontrol"):
        (bin_dir / name).chmod((bin_dir / name).stat().st_mode | stat.S_IEXEC)
    return bin_dir


@pytest.mark.parametrize("srun_exit, script_exit, requeued", [(0, 0, False), (1, 1, False), (2, 2, False),
                                                               (75, 0, True)])
def test_the_array_script_keeps_the_shard_count_and_requeues_on_75(capsys, tmp_path, srun_exit, script_exit,
                                                                    requeued):
    script, _ = _slurm(capsys, tmp_path, "--setup", "export FROM_SETUP=yes", "--setup", "true")
    path = tmp_path / "launch" / "coco_retinanet_paper.sbatch"
    assert script.index("export FROM_SETUP=yes") < script.index("srun ")
    bin_dir = _fake_slurm(tmp_path, srun_exit)
    # `sbatch --array=17,42` of the generated script: SLURM counts 2 tasks
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "SLURM_ARRAY_TASK_ID": "42",
           "SLURM_ARRAY_TASK_COUNT": "2", "SLURM_ARRAY_JOB_ID": "123", "SLURM_CPUS_PER_TASK": "32",
           "PROBE": str(tmp_path / "probe.json"), "SCONTROL_LOG": str(tmp_path / "scontrol.log")}
    env.pop("SWEEP_SHARD_COUNT", None)
    done = subprocess.run(["bash", str(path)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == script_exit, done.stderr
    probe = json.loads((tmp_path / "probe.json").read_text())
    assert probe["shard"] == [42, 72] and probe["cpus"] == "32" and probe["setup"] == "yes"
    assert probe["argv"][:2] == ["--kill-on-bad-exit=1", "python"]  # --setup: the nodes' `python`
    log = tmp_path / "scontrol.log"
    assert (log.read_text().split() == ["requeue", "123_42"]) if requeued else not log.exists()


# -- defect: a committed plan, and a launch file written before the refusal ----------------------------
def test_a_refused_submit_writes_nothing(capsys, tmp_path):
    shards.ensure_plan(load(PAPER), str(tmp_path / "results" / "coco_retinanet_paper"), 72)
    code, _, err = _main(capsys, "submit", PAPER, "--engine", "slurm", "--out", tmp_path / "launch", "--results",
                         tmp_path / "results", "--shards", "8")
    assert code == 2 and err.count("\n") == 1 and "--shards: 8 shards, but" in err and "planned for 72" in err, err
    assert not (tmp_path / "launch").exists()
    config = tmp_path / "s.yaml"  # an edited copy of a planned sweep
    config.write_text(yaml.safe_dump(minimal_sweep("s")))
    shards.ensure_plan(load(str(config)), str(tmp_path / "results" / "s"), 2)
    config.write_text(yaml.safe_dump(minimal_sweep("s", **{"base/seed": 1})))
    code, _, err = _main(capsys, "submit", config, "--engine", "slurm", "--out", tmp_path / "launch", "--results",
                         tmp_path / "results", "--shards", "2")
    assert code == 2 and "differ from the plan recorded" in err and not (tmp_path / "launch").exists()


def test_no_plan_is_tracked_under_results():
    """A plan lives with the results it guards: a committed one refuses every other --shards and config."""
    if not shutil.which("git") or not os.path.isdir(os.path.join(ROOT, ".git")):
        pytest.skip("not a git checkout")
    listed = subprocess.run(["git", "ls-files", "results"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    deleted = subprocess.run(["git", "ls-files", "-d", "results"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert [p for p in set(listed) - set(deleted) if p.endswith("plan.json")] == []
    ignored = subprocess.run(["git", "check-ignore", "-q", "results/any_sweep/plan.json"], cwd=ROOT)
    assert ignored.returncode == 0


# -- defect: a diverged cell made its task fail; exit codes ------------------------------------------------
@pytest.mark.parametrize("statuses, code", [
    (["finished", "finished"], 0), (["finished", "diverged"], 0), (["worker done", "diverged"], 0),
    (["finished", "failed"], 1), (["pending"], 1), (["finished", "preempted"], 75), (["failed", "preempted"], 75),
    ([], 0)])
def test_exit_codes(statuses, code):
    assert run_sweep.exit_code(statuses) == code


def test_help_documents_the_exit_codes():
    assert all(re.search(rf"^\s+{code}\s", run_sweep.__doc__, re.M) for code in (0, 1, 2, 75))


def test_log_lines_carry_time_host_and_shard(capsys):
    run_sweep._log((3, 72))("[1/4] cell-id: 50% done")
    run_sweep._log(None)("plain")
    lines = capsys.readouterr().out.splitlines()
    host = re.escape(__import__("socket").gethostname())
    assert re.fullmatch(rf"\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d {host} shard 3/72 \| \[1/4\] cell-id: 50% done", lines[0])
    assert re.fullmatch(rf"\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d {host} \| plain", lines[1]), lines


# -- site options ----------------------------------------------------------------------------------------
def test_slurm_site_options(capsys, tmp_path):
    script, out = _slurm(capsys, tmp_path, "--partition", "gpu", "--account", "proj42", "--qos", "high", "--mem",
                         "256G", "--time", "24:00:00", "--constraint", "a100&ib", "--cpus-per-gpu", "6",
                         "--signal-seconds", "600", "--setup", "module load cuda/12.4",
                         "--python", "/shared/venv/bin/python")
    for line in ("#SBATCH --partition=gpu", "#SBATCH --account=proj42", "#SBATCH --qos=high", "#SBATCH --mem=256G",
                 "#SBATCH --time=24:00:00", "#SBATCH --constraint=a100&ib", "#SBATCH --cpus-per-task=48",
                 "#SBATCH --signal=USR1@600", "module load cuda/12.4", "srun --kill-on-bad-exit=1 /shared/venv/bin/python"):
        assert line in script, line
    assert "48 CPUs per task" in out
    assert subprocess.run(["bash", "-n", str(tmp_path / "launch" / "coco_retinanet_paper.sbatch")]).returncode == 0
    plain, _ = _slurm(capsys, tmp_path / "plain", "--cpus-per-cell", "40")  # no --setup: this interpreter
    assert f"srun --kill-on-bad-exit=1 {sys.executable} run_sweep.py" in plain and "--cpus-per-task=40" in plain
    staged, _ = _slurm(capsys, tmp_path / "staged", "--partition", "gpu", "--setup", "true", config=DEFAULT)
    stage = (tmp_path / "staged" / "launch" / "default-pretrain.sbatch").read_text()
    assert "#SBATCH --partition=gpu" in stage and "SRUN_CPUS_PER_TASK" in stage and "\ntrue\n" in stage


def test_kubernetes_site_options_pass_the_schema(capsys, tmp_path):
    manifests, out = _k8s(capsys, tmp_path, "--namespace", "vision", "--claim-name", "sweep-rwx", "--claim-size",
                          "2Ti", "--node-selector", "nvidia.com/gpu.product=NVIDIA-H100-80GB-HBM3",
                          "--toleration", "nvidia.com/gpu:NoSchedule", "--toleration", "pool=gpu:NoExecute",
                          "--grace-seconds", "300", "--image", "registry.example/frn:gpu", "--mem", "64G",
                          config=PAPER)
    assert list(manifests) == ["frn-coco-retinanet-paper.json", "sweep-rwx-persistentvolumeclaim.json"]
    claim = manifests["sweep-rwx-persistentvolumeclaim.json"]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"] and claim["spec"]["resources"]["requests"]["storage"] == "2Ti"
    job = manifests["frn-coco-retinanet-paper.json"]
    assert {m["metadata"]["namespace"] for m in manifests.values()} == {"vision"}
    spec, pod = job["spec"], job["spec"]["template"]["spec"]
    rules = spec["podFailurePolicy"]["rules"]
    assert rules[0] == {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}
    assert rules[1]["action"] == "Ignore" and rules[1]["onExitCodes"]["values"] == [75]  # stopped on a signal, saved
    assert rules[2]["action"] == "FailIndex" and rules[2]["onExitCodes"]["values"] == [2]
    assert pod["restartPolicy"] == "Never" and pod["terminationGracePeriodSeconds"] == 300
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
                                  {"key": "pool", "operator": "Equal", "value": "gpu", "effect": "NoExecute"}]
    assert {"name": "dshm", "emptyDir": {"medium": "Memory"}} in pod["volumes"]
    assert {"name": "work", "persistentVolumeClaim": {"claimName": "sweep-rwx"}} in pod["volumes"]
    container = pod["containers"][0]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/dev/shm"]["name"] == "dshm" and mounts["/app/data"]["subPath"] == "data"
    assert mounts["/app/runs"]["subPath"] == "runs" and mounts["/work"]["name"] == "work"
    command = container["command"]
    assert command[:4] == ["python", "run_sweep.py", "run", "/work/configs/coco_retinanet_paper.yaml"]  # from the volume
    assert command[command.index("--results") + 1] == "/work/results"
    assert container["image"] == "registry.example/frn:gpu" and container["resources"]["requests"] == {
        "cpu": "32", "memory": "64Gi"}
    assert "copy configs/coco_retinanet_paper.yaml to /work/configs/coco_retinanet_paper.yaml" in out
    defaults, _ = _k8s(capsys, tmp_path / "d")  # default.yaml: a pretrain Job too, claim not written
    pretrain = defaults["frn-default-pretrain.json"]["spec"]
    assert pretrain["podFailurePolicy"]["rules"][2]["action"] == "FailJob"
    assert pretrain["template"]["spec"]["terminationGracePeriodSeconds"] == 120
    workers, _ = _k8s(capsys, tmp_path / "w", "--namespace", "vision", "--shards", "4", "--workers-per-cell", "2",
                      config=PAPER)
    assert workers["frn-coco-retinanet-paper-service.json"]["metadata"]["namespace"] == "vision"


def test_a_podfailurepolicy_typo_fails_the_schema():
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "x"}, "spec": {
        "podFailurePolicy": {"rules": [{"action": "Ignore", "onPodCondition": [{"type": "DisruptionTarget"}]}]},
        "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(job, K8S_VERSION, strict=True)


@pytest.mark.parametrize("engine, extra, message", [
    ("k8s", ["--toleration", "gpu:Sometimes"], "--toleration: 'gpu:Sometimes' is not KEY[=VALUE]:EFFECT; valid effects"),
    ("k8s", ["--node-selector", "gpu"], "--node-selector: 'gpu' is not KEY=VALUE"),
    ("k8s", ["--namespace", "Bad_NS"], "--namespace: 'Bad_NS' is not a Kubernetes name"),
    ("k8s", ["--claim-size", "lots"], "--claim-size: 'lots' is not a Kubernetes quantity"),
    ("k8s", ["--results", "/tmp/r"], "--results: '/tmp/r' is not on the shared volume; valid for k8s"),
    ("k8s", ["--grace-seconds", "0"], "--grace-seconds: 0 is out of range; valid: 1 to 86400"),
    ("slurm", ["--mem", "64 GB"], "--mem: '64 GB' is not SLURM memory"),
    ("slurm", ["--signal-seconds", "0"], "--signal-seconds: 0 is out of range; valid: 1 to 65535"),
    ("slurm", ["--cpus-per-gpu", "0"], "--cpus-per-gpu: 0 is out of range; valid: 1 to 256"),
    ("slurm", ["--setup", "module load a\nrm -rf /"], "--setup: 'module load a\\nrm -rf /' must be one non-empty line"),
    ("slurm", ["--partition", "gpu a100"], "--partition: 'gpu a100' is not one #SBATCH value; valid: no spaces"),
    ("slurm", ["--time", ""], "--time: '' is not one #SBATCH value"),
    ("k8s", ["--step-seconds", "-1"], "--step-seconds: '-1' is out of range; valid: 0 < S <= 86400"),
])
def test_bad_site_options_are_refused_in_one_line(capsys, tmp_path, engine, extra, message):
    code, _, err = _main(capsys, "submit", PAPER, "--engine", engine, "--out", tmp_path / "launch",
                         *(["--results", tmp_path / "results"] if engine == "slurm" else []), *extra)
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "launch").exists() and not (tmp_path / "results").exists()


# -- cost --------------------------------------------------------------------------------------------------
def test_plan_and_submit_print_gpu_hours_and_wall_time(capsys, tmp_path):
    code, out, _ = _main(capsys, "plan", PAPER, "--step-seconds", "0.5")
    # 18.9M steps x 0.5 s x 8 GPUs; 72 one-cell shards, 8 at once
    assert code == 0 and "cost at 0.5 s/step: 21,000 GPU-hours (8 GPUs x 1 worker(s) per cell)" in out, out
    assert re.search(r"wall time 13\.\d days with 8 of 72 shards at once", out), out
    record = tmp_path / "steps.json"
    record.write_text(json.dumps({"format": 1, "device": "NVIDIA H100", "image_size": 640, "batch_per_gpu": 8,
                                  "seconds_per_step": {"bn": 0.4, "frn": 0.5, "gn": 0.6}}))
    script, out = _slurm(capsys, tmp_path, "--step-seconds", record, "--parallel", "72")
    assert "cost at " in out and "NVIDIA H100, 8 images/GPU at 640 px" in out and "GPU-hours" in out
    assert "bn's step time used for batch_renorm, frozen_bn, in, ln, sync_bn" in out
    code, out, err = _main(capsys, "plan", PAPER, "--step-seconds", tmp_path / "nothing.json")
    assert code == 2 and "--step-seconds:" in err and "gpu_check" in err
    code, out, _ = _main(capsys, "plan", PAPER)
    assert "cost" not in out and out.strip().splitlines()[-1].startswith("total: 72 cells")


def test_cost_from_a_record_scales_by_images_per_gpu():
    sweep = parse(minimal_sweep(**{"blocks/scratch/grid/norm": ["frn"], "blocks/scratch/grid/batch": [16, 4]}))
    cells = list(sweep.cells)
    step = cost.StepTime(record={"image_size": cells[0].image_size, "batch_per_gpu": 8, "seconds_per_step": {"bn": 1.0,
                                                                                                             "frn": 2.0}})
    per_gpu = [c.batch / 2 for c in cells]
    assert [step.seconds(c, 2) for c in cells] == [2.0 * images / 8 for images in per_gpu]
    assert cost.wall_seconds([5, 1, 1, 1], 2) == 5 and cost.wall_seconds([1, 1, 1], 1) == 3


# -- the GPU image -----------------------------------------------------------------------------------------
def test_the_dockerfile_builds_the_gpu_extra_on_request():
    text = open(os.path.join(ROOT, "Dockerfile")).read()
    run = next(line for line in text.splitlines() if line.startswith("RUN pip install"))
    assert "ARG EXTRAS=" in text
    expand = run.split("pip install --no-cache-dir -e ", 1)[1]
    for extras, expected in (("", "."), ("gpu", ".[gpu]")):
        shown = subprocess.run(["sh", "-c", f"echo {expand}"], env={"EXTRAS": extras, "PATH": os.environ["PATH"]},
                               capture_output=True, text=True).stdout.strip()
        assert shown == expected
    with open(os.path.join(ROOT, "pyproject.toml")) as f:
        assert re.search(r'gpu = \["tensorflow\[and-cuda\]', f.read())


def test_plan_and_submit_with_cost_import_no_tensorflow(tmp_path):
    code = ("import json, sys, run_sweep\n"
            "rc = [run_sweep.main(['plan', sys.argv[1], '--step-seconds', '0.5']), run_sweep.main(['submit', "
            "sys.argv[1], '--engine', 'k8s', '--out', sys.argv[2], '--step-seconds', '0.5', '--results', 'gs://b/r'])]\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'official', 'tf_keras'))\n"
            "print(json.dumps({'rc': rc, 'heavy': heavy[:5]}))\n")
    result = subprocess.run([sys.executable, "-c", code, PAPER, str(tmp_path / "launch")], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"rc": [0, 0], "heavy": []}, result.stderr

"""A real one-node SLURM cluster runs the generated array script of a tiny sweep (`sbatch --wait`).

Marked slow: it installs nothing itself, but starts munge + slurmctld + slurmd with
tests/slurm/start_cluster.sh when Debian's slurm-wlm is installed (.ci/run installs it) and
skips, with the reason, where SLURM cannot start.
"""
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from sweep.grid.spec import load
from tests.tiny_sweep import write_tiny_sweep

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    if not shutil.which("sbatch") or not shutil.which("slurmctld"):
        pytest.skip("SLURM is not installed (apt-get install slurm-wlm munge; .ci/run does)")
    if os.geteuid() != 0:
        pytest.skip("starting a SLURM cluster needs root")
    started = subprocess.run(["bash", os.path.join(ROOT, "tests", "slurm", "start_cluster.sh")],
                             capture_output=True, text=True, timeout=120)
    if started.returncode:
        pytest.skip(f"SLURM did not start: {started.stderr.strip()[-300:]}")


def test_sbatch_runs_every_shard_and_the_tables_gather(cluster, tmp_path):
    sweep_file = write_tiny_sweep(tmp_path, name="slurm_tiny")
    results, runs, out = tmp_path / "results", tmp_path / "runs", tmp_path / "launch"
    submit = subprocess.run([sys.executable, "run_sweep.py", "submit", str(sweep_file), "--engine", "slurm",
                             "--parallel", "2", "--cpus-per-cell", "1", "--results", str(results), "--runs", str(runs),
                             "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert submit.returncode == 0, submit.stderr
    script = out / "slurm_tiny.sbatch"
    done = subprocess.run(["sbatch", "--wait", str(script)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=1200)
    logs = "\n".join(p.read_text() for p in sorted(tmp_path.glob("slurm-*.out")))
    assert done.returncode == 0, done.stdout + done.stderr + logs[-3000:]
    assert len(list(tmp_path.glob("slurm-*.out"))) == 2  # one task per shard
    gathered = subprocess.run([sys.executable, "run_sweep.py", "gather", str(sweep_file), "--results", str(results)],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert gathered.returncode == 0, gathered.stderr
    tables = json.loads((results / "slurm_tiny" / "tables.json").read_text())
    assert tables["counts"] == {"finished": 2, "failed": 0, "diverged": 0, "pending": 0}
    assert all(0.0 <= row["AP"] <= 100.0 and row["steps"] == 24 for row in tables["grid"])


def _wait_for(path, seconds, what):
    deadline = time.time() + seconds
    while time.time() < deadline and not path.exists():
        time.sleep(0.5)
    assert path.exists(), f"{what} never appeared"


def test_usr1_saves_between_steps_requeues_the_task_and_it_resumes_to_the_uninterrupted_ap(cluster, tmp_path):
    """Slurm's warning before a time limit (`--signal=USR1@T`, or `scancel --signal=USR1`) reaches the
    runner and its cell under srun; the cell saves between two steps, the runner exits 75, the script
    requeues the array task and the requeued task resumes the cell from the saved step."""
    sweep_file = write_tiny_sweep(tmp_path, name="slurm_preempt", norms=("frn",))
    cell_id = load(str(sweep_file)).cells[0].id
    reference = subprocess.run([sys.executable, "run_sweep.py", "run", str(sweep_file), "--results",
                                str(tmp_path / "reference"), "--runs", str(tmp_path / "reference-runs")],
                               cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert reference.returncode == 0, reference.stdout[-2000:] + reference.stderr[-2000:]
    expected = json.loads((tmp_path / "reference" / "slurm_preempt" / "cells" / f"{cell_id}.json").read_text())

    results, runs, out = tmp_path / "results", tmp_path / "runs", tmp_path / "launch"
    submit = subprocess.run([sys.executable, "run_sweep.py", "submit", str(sweep_file), "--engine", "slurm",
                             "--cpus-per-cell", "1", "--results", str(results), "--runs", str(runs), "--out", str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert submit.returncode == 0, submit.stderr
    job = subprocess.run(["sbatch", "--parsable", str(out / "slurm_preempt.sbatch")], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert job.returncode == 0, job.stderr
    job_id = job.stdout.strip().split(";")[0]
    run_dir = runs / "slurm_preempt" / cell_id
    _wait_for(run_dir / "progress.json", 600, "the cell's first train loop")
    subprocess.run(["scancel", "--signal=USR1", job_id], check=True, timeout=60)
    result_path = results / "slurm_preempt" / "cells" / f"{cell_id}.json"
    _wait_for(result_path, 900, "the requeued task's result")
    logs = "\n".join(p.read_text() for p in sorted(tmp_path.glob("slurm-*.out")))
    result = json.loads(result_path.read_text())
    records = json.loads((run_dir / "preemptions.json").read_text())
    saved = records[0]["saved_step"]
    assert len(records) == 1 and records[0]["signal"] == "SIGUSR1" and 4 <= saved < 24, logs[-3000:]
    assert records[0]["seconds_to_save"] < 60
    assert result["status"] == "finished" and result["preemptions"] == records
    assert result["steps_this_run"] == 24 - saved  # resumed from the step saved at the signal
    assert result["coco"]["AP"] == pytest.approx(expected["coco"]["AP"], abs=1e-6)
    assert "stopped on a signal" in logs


def test_a_two_worker_cell_under_the_generated_srun_records_once_and_both_tasks_exit_0(cluster, tmp_path):
    """Multi-worker cells: every worker of the generated script's `srun` exits 0 once the chief's result
    exists (a non-chief that exited first used to fail the step and take the evaluating chief with it).
    The one node here holds both workers: `--nodes=2 --ntasks-per-node=1` becomes `--ntasks=2`."""
    sweep_file = write_tiny_sweep(tmp_path, name="slurm_mw", norms=("gn",))  # replicas 2 = 2 workers x 1 CPU
    cell_id = load(str(sweep_file)).cells[0].id
    results, runs, out = tmp_path / "results", tmp_path / "runs", tmp_path / "launch"
    submit = subprocess.run([sys.executable, "run_sweep.py", "submit", str(sweep_file), "--engine", "slurm",
                             "--workers-per-cell", "2", "--cpus-per-cell", "1", "--results", str(results),
                             "--runs", str(runs), "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert submit.returncode == 0, submit.stderr
    script = out / "slurm_mw.sbatch"
    text = script.read_text()
    assert "#SBATCH --nodes=2\n#SBATCH --ntasks-per-node=1\n" in text
    script.write_text(text.replace("#SBATCH --nodes=2\n#SBATCH --ntasks-per-node=1\n", "#SBATCH --ntasks=2\n"))
    done = subprocess.run(["sbatch", "--wait", str(script)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=1200)
    logs = "\n".join(p.read_text() for p in sorted(tmp_path.glob("slurm-*.out")))
    assert done.returncode == 0, done.stdout + done.stderr + logs[-4000:]
    result = json.loads((results / "slurm_mw" / "cells" / f"{cell_id}.json").read_text())
    assert result["status"] == "finished" and result["devices"]["workers"] == 2 and result["steps"] == 24
    assert "worker 1 done; the chief recorded finished" in logs
    assert logs.count(f"{cell_id}: AP ") == 1  # the chief alone evaluated and recorded it
    assert "already holds a result" not in logs

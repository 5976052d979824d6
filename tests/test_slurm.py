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

import pytest

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

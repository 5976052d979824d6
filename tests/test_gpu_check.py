"""benchmarks/gpu_check.py --smoke: the GPU benchmark's own code, run on CPU (no figures checked
but that every section ran and printed its ratios and images/s)."""
import os
import re
import subprocess
import sys

from sweep.cluster.cost import load_step_time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_gpu_check_smoke_runs_every_section(tmp_path):
    record = tmp_path / "steps.json"
    done = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--smoke", "--out", str(record)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    out = done.stdout
    for dtype in ("float32", "bfloat16"):
        line = next(line for line in out.splitlines() if re.match(rf"\s*{dtype}\s+graph:", line))
        for part in ("stock MG bn", "our bn/stock", "frn/bn", "gn/bn"):
            assert part in line, line
    assert re.search(r"float32\s+xla: bn \d", out), out
    ratio = float(re.search(r"frn/bn (\d+\.\d+)", out).group(1))
    assert 0.2 < ratio < 5.0, out
    assert re.search(r"embedded FRN cell: 6 steps, B=4 on 2 replicas \(2 cpu\): \d+\.\d images/s", out), out
    step = load_step_time(str(record))  # what run_sweep.py plan --step-seconds FILE reads
    assert set(step.record["seconds_per_step"]) == {"bn", "frn", "gn"} and step.record["batch_per_gpu"] == 1

"""The command lines: run_sweep.py's sub-parsers (each command refuses the others' options), --set
overrides of a sweep file, a closed pipe, compare's output, and `detection.train --help` without
TensorFlow. No training."""
import json
import os
import subprocess
import sys

import pytest

import run_sweep
from sweep.cluster import launch
from sweep.grid.spec import load
from tests.test_sweep_run import _fake_result

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT = os.path.join(ROOT, "configs", "default.yaml")


def _main(capsys, *argv):
    """run_sweep.main in this process: (exit code, stdout, stderr); argparse's exit becomes the code."""
    try:
        code = run_sweep.main([str(a) for a in argv])
    except SystemExit as done:
        code = done.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv, refused", [
    (["plan", DEFAULT, "--shard", "0/3"], "--shard"),
    (["plan", DEFAULT, "--results", "/tmp/r"], "--results"),
    (["plan", DEFAULT, "--engine", "slurm"], "--engine"),
    (["run", DEFAULT, "--engine", "slurm"], "--engine"),
    (["run", DEFAULT, "--step-seconds", "1"], "--step-seconds"),
    (["gather", DEFAULT, "--jobs", "2"], "--jobs"),
    (["gather", DEFAULT, "--only", "x"], "--only"),
    (["submit", DEFAULT, "--engine", "slurm", "--shard", "0/2"], "--shard"),
    (["submit", DEFAULT, "--engine", "slurm", "--only", "x"], "--only"),
    (["eval", DEFAULT, "--jobs", "2"], "--jobs"),
    (["eval", DEFAULT, "--out", "x"], "--out"),
    (["compare", "a", "b", "--engine", "slurm"], "--engine"),
    (["compare", "a", "b", "--set", "jobs=1"], "--set"),
    ([DEFAULT], "invalid choice"),  # a config is not a command
])
def test_an_option_of_another_command_is_refused(capsys, argv, refused):
    code, out, err = _main(capsys, *argv)
    lines = err.strip().splitlines()
    assert code == 2 and not out, err
    assert lines[0].startswith("usage: run_sweep.py") and len(lines) == 2 and refused in lines[1], err
    if argv[0] in run_sweep.COMMANDS:
        assert lines[1].startswith(f"run_sweep.py {argv[0]}: error:"), err


def test_no_arguments_is_run_on_the_embedded_default():
    for argv in ([], ["run"], ["--jobs", "1"]):
        args = run_sweep.parse_args(argv)
        assert args.command == "run" and args.handler is run_sweep._run and args.config == DEFAULT, argv
        assert args.shard == "" and args.stage == "cells" and args.overrides == [] and not args.dry_run
    assert run_sweep.parse_args(["--jobs", "1"]).jobs == 1


def test_every_launch_file_command_line_parses(tmp_path):
    """What sweep/cluster/launch.py and sweep/cluster/k8s.py write (run_args) is a valid `run` command line."""
    sweep = load(DEFAULT, ["jobs=1"])
    spec = launch.Launch(sweep=sweep, config="configs/default.yaml", shards=2, parallel=1, gpus_per_cell=0,
                         results="gs://b/r", runs="gs://b/runs", repo=ROOT, python="python", allow_cpu=True,
                         overrides=sweep.overrides)
    for extra in (("--shard", "auto"), ("--stage", "pretrain")):
        argv = spec.run_args(*extra)
        assert argv[:2] == ["python", "run_sweep.py"]
        args = run_sweep.parse_args(argv[2:])
        assert args.command == "run" and args.allow_cpu and args.overrides == ["jobs=1"] and args.results == "gs://b/r"
    dry = run_sweep.parse_args(["run", DEFAULT, "--dry-run"])
    assert dry.dry_run


def test_set_changes_the_planned_cells_and_is_listed(capsys):
    _, plain, _ = _main(capsys, "plan", DEFAULT)
    code, out, err = _main(capsys, "plan", DEFAULT, "--set", "scaling.base_steps=100", "--set",
                           "blocks.scratch.grid.seed=[0, 1]")
    assert code == 0, err
    assert out.splitlines()[1] == "overrides: --set scaling.base_steps=100 --set blocks.scratch.grid.seed=[0, 1]"
    count = lambda text: int(text.splitlines()[0].split(": ")[1].split()[0])  # noqa: E731
    assert count(out) == count(plain) + 9  # the 9 scratch cells again with seed 1
    ids = lambda text: {line.split()[0] for line in text.splitlines() if line.startswith("scratch-")}  # noqa: E731
    assert not ids(out) & ids(plain)  # every scratch cell changed its steps, so its id
    sweep = load(DEFAULT, ["scaling.base_steps=100"])
    assert sweep.overrides == ("scaling.base_steps=100",)
    assert {c.steps for c in sweep.cells if c.block == "scratch"} != {c.steps for c in load(DEFAULT).cells
                                                                     if c.block == "scratch"}


@pytest.mark.parametrize("override, message", [
    ("base.replicass=4", "base.replicass: unknown key (did you mean 'replicas'?)"),
    ("base.replicas=abc", "base.replicas: 'abc' has type str; expected int"),
    ("scaling.base_steps=-1", "scaling.base_steps: -1 is out of range"),
    ("blocks.scratch.grid.seed=[0,", "malformed YAML value"),
    ("jobs.x=1", "jobs is int"),
    ("jobs", "expected KEY=VALUE"),
])
def test_a_bad_set_is_one_line_naming_it(capsys, override, message):
    code, out, err = _main(capsys, "plan", DEFAULT, "--set", override)
    assert code == 2 and not out and err.count("\n") == 1, err
    assert message in err and (f"--set {override}" in err or f"--set {override!r}" in err), err


def test_a_set_error_reads_like_the_same_edit_of_the_file(capsys, tmp_path):
    edited = tmp_path / "edited.yaml"
    edited.write_text(open(DEFAULT).read().replace("base:\n", "base:\n  replicass: 4\n", 1))
    _, _, from_file = _main(capsys, "plan", edited)
    _, _, from_set = _main(capsys, "plan", DEFAULT, "--set", "base.replicass=4")
    assert from_set.startswith(from_file.strip()) and from_set.strip().endswith("(from --set base.replicass=4)")


def test_submit_puts_the_overrides_in_the_launch_files(capsys, tmp_path):
    code, out, err = _main(capsys, "submit", DEFAULT, "--engine", "slurm", "--out", tmp_path / "launch",
                           "--results", tmp_path / "results", "--set", "jobs=1", "--set", "scaling.base_steps=50")
    assert code == 0, err
    script = (tmp_path / "launch" / "default.sbatch").read_text()
    assert "--set jobs=1 --set scaling.base_steps=50" in script
    assert "gather configs/default.yaml --set jobs=1 --set scaling.base_steps=50" in out
    plan = json.loads((tmp_path / "results" / "default" / "plan.json").read_text())
    assert plan["overrides"] == ["jobs=1", "scaling.base_steps=50"]


def test_a_closed_pipe_ends_quietly():
    for reader in ("head -1", "true"):  # `true` exits before anything is written: always a broken pipe
        done = subprocess.run(f"{sys.executable} run_sweep.py plan configs/embedded_study.yaml | {reader}",
                              shell=True, cwd=ROOT, capture_output=True, text=True)
        assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
        assert done.stdout == ("sweep embedded_study: 126 cells\n" if reader.startswith("head") else "")


def test_compare_prints_and_writes_a_file_only_with_out(capsys, tmp_path, monkeypatch):
    sweep = load(DEFAULT)
    for side, ap in (("a", 0.2), ("b", 0.25)):
        for cell in sweep.cells[:2]:
            _fake_result(tmp_path / side, cell, "finished", ap)
    monkeypatch.chdir(tmp_path)
    before = sorted(p for p in tmp_path.rglob("*"))
    code, out, err = _main(capsys, "compare", tmp_path / "a", tmp_path / "b", "--results", tmp_path / "results")
    assert code == 0, err
    assert "+5.00" in out and "written" not in out + err
    assert sorted(p for p in tmp_path.rglob("*")) == before  # no file anywhere
    code, out, err = _main(capsys, "compare", tmp_path / "a", tmp_path / "b", "--out", tmp_path / "cmp.md")
    assert code == 0 and (tmp_path / "cmp.md").read_text().strip() == out.strip()
    assert f"written: {tmp_path / 'cmp.md'}" in err


def test_detection_train_help_does_not_import_tensorflow():
    code = ("import runpy, sys\n"
            "sys.argv = ['detection.train', '--help']\n"
            "try:\n"
            "    runpy.run_module('detection.train', run_name='__main__', alter_sys=True)\n"
            "except SystemExit as done:\n"
            "    assert done.code == 0, done.code\n"
            "print('tensorflow' in sys.modules, file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr.strip() == "False", done.stderr
    assert "--run_dir" in done.stdout and "--params_override" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "detection.train", "--experiment", "x"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--run_dir" in bad.stderr

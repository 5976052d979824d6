#!/usr/bin/env python3
"""Runs a sweep of detector trainings from a YAML grid (docs/ARCHITECTURE.md).

    python run_sweep.py                                  run configs/default.yaml (the embedded default)
    python run_sweep.py run [CONFIG] [--only GLOB,...]   check every cell, then run the unfinished ones in order,
                         [--jobs N]                      N at a time (default: the file's `jobs`, else 1)
                         [--shard I/N | --shard auto]    only shard I of N (a SLURM array / Kubernetes Indexed Job task)
                         [--stage pretrain]              only the pretrain step the fine-tuned cells wait for
    python run_sweep.py plan [CONFIG]  (or run --dry-run) list the cells (id, norm, B, B per replica, m, lr,
                         [--only GLOB,...]               steps, init) and totals; no TensorFlow
    python run_sweep.py gather [CONFIG]                  (re)build results/<sweep>/tables.* and the plot; CONFIG
                                                         a ladder file (configs/ladder.yaml): every rung's tables,
                                                         then the verdict across scale in results/<verdict>/
    python run_sweep.py submit CONFIG --engine slurm|k8s write launch files for a cluster (and, with --submit,
                                                         submit them); README "Clusters"
    python run_sweep.py eval [CONFIG] [--only GLOB,...]  re-score finished cells' checkpoints (no training), regather
    python run_sweep.py compare A B [--out FILE]         AP of B minus A, cells matched by their settings, as
                                                         Markdown on stdout (and in FILE with --out); A, B:
                                                         result folders or sweep files
    plan and submit with --step-seconds S|FILE also print the GPU-hours and the wall time (sweep/cluster/cost.py).
    plan, run, submit, gather, eval with --set KEY=VALUE (repeatable) override a key of the sweep file:
    a dotted path (jobs, base.replicas, scaling.base_steps, blocks.scratch.grid.seed) and a YAML value
    (4, [0, 1], null), validated like the same edit of the file; the cells (and their ids) change as
    they would with that edit, plan lists the overrides, submit puts them in the launch files' commands.
    `python run_sweep.py COMMAND --help` lists a command's options; a command refuses the others'.

Each of the `jobs` lanes trains its cells in turn in one warm worker process (a fresh Keras session
per cell; --process-per-cell: a process each), in run directories runs/<sweep>/<cell id>/ (git-ignored),
and leaves results/<sweep>/cells/<cell id>.json; a rerun skips finished and diverged cells and resumes an
interrupted one from its last checkpoint. Cells are claimed before they start, so several runners
on one results directory run each cell once; shards of a job array need no claims, so their
--results and --runs may be gs://. SIGTERM or SIGUSR1 makes running cells save a checkpoint and stop.
Log lines carry the time, the host and the shard. Exit codes of run (and eval, gather):
  0   every cell has a result (finished, or diverged: a divergence is a recorded result)
  1   a failure a retry may fix: a failed or unrun cell, a file that could not be written
  2   bad config or option (nothing run, nothing written)
  75  (EX_TEMPFAIL) stopped on SIGTERM / SIGUSR1 after the running cells saved a checkpoint: run again
      to resume them (the SLURM script requeues the task); wins over 1
"""
import argparse
import logging
import os
import socket
import sys

from common.paths import REPO_ROOT, RESULTS_ROOT, RUNS_ROOT
from common.storage import StorageError
from sweep.cluster import shards, submit
from sweep.errors import SweepConfigError
from sweep.execution import runner
from sweep.grid.keys import MAX_JOBS
from sweep.grid.plan import describe
from sweep.grid.selection import select
from sweep.grid.spec import load
from sweep.reports import ladder, tables, verdict
from sweep.store import layout
from sweep.store.status import (
    DIVERGED,
    EVALUATED,
    EXIT_BAD_INPUT,
    EXIT_NOT_FINISHED,
    EXIT_OK,
    FINISHED,
    PREEMPTED,
    PREEMPTED_EXIT,
    SKIPPED,
    WORKER_DONE,
)

DEFAULT_CONFIG = os.path.join(REPO_ROOT, "configs", "default.yaml")
RESULTS = (FINISHED, DIVERGED, WORKER_DONE)  # exit 0 (a non-chief worker's cell: the chief recorded it)
COMMANDS = ("plan", "run", "gather", "submit", "eval", "compare")


def build_parser():
    """The top-level parser and one sub-parser per command, each with only the options it takes."""
    parser = argparse.ArgumentParser(prog="run_sweep.py", description=__doc__, allow_abbrev=False,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name, handler, usage, summary):
        sub = commands.add_parser(name, help=summary, description=summary, usage=f"run_sweep.py {name} {usage}",
                                  allow_abbrev=False)
        sub.set_defaults(handler=handler)
        return sub

    def config(sub):
        sub.add_argument("config", nargs="?", default=DEFAULT_CONFIG,
                         help="the sweep YAML file (default: configs/default.yaml)")
        sub.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                         help="override a key of the sweep file: a dotted path (base.replicas, "
                              "blocks.scratch.grid.seed) and a YAML value; repeatable")

    def only(sub):
        sub.add_argument("--only", default="", help="comma-separated globs or substrings of cell ids")

    def roots(sub, runs=True):
        sub.add_argument("--results", default=RESULTS_ROOT, help="results root (default: results/; gs:// with --shard)")
        if runs:
            sub.add_argument("--runs", default=RUNS_ROOT, help="run directories root (default: runs/, git-ignored)")

    plan = command("plan", _plan, "[CONFIG] [--set KEY=VALUE] [--only GLOB,...] [--step-seconds S|FILE] [options]",
                   "list the cells and the totals (no TensorFlow)")
    config(plan)
    only(plan)
    submit.add_cost_arguments(plan)

    run = command("run", _run, "[CONFIG] [--set KEY=VALUE] [--only GLOB,...] [--jobs N] [--shard I/N|auto] "
                  "[options]", "check every cell, then run the unfinished ones")
    config(run)
    only(run)
    roots(run)
    run.add_argument("--jobs", type=int, default=None,
                     help="cells to run at once on this machine (default: the sweep's `jobs`, else 1)")
    run.add_argument("--shard", default="", help="I/N: run shard I of N (0-based); auto: from SLURM_ARRAY_TASK_ID"
                     "/SLURM_ARRAY_TASK_COUNT or JOB_COMPLETION_INDEX/SWEEP_SHARD_COUNT")
    run.add_argument("--stage", choices=["cells", "pretrain"], default="cells",
                     help="pretrain: run only the pretrain step (a job the sharded cells wait for)")
    run.add_argument("--allow-cpu", action="store_true", help="let scale: paper cells run without GPUs (tests)")
    run.add_argument("--process-per-cell", action="store_true",
                     help="a fresh process for every cell instead of one warm worker per lane "
                          "(sweep/execution/cell_worker.py); same results, slower")
    run.add_argument("--dry-run", action="store_true", help="list the cells instead (the plan command)")

    gather = command("gather", _gather, "[CONFIG] [--set KEY=VALUE] [--results DIR]",
                     "(re)build results/<sweep>/tables.* and the plot; for a ladder file (configs/ladder.yaml) "
                     "every rung's tables, then results/<verdict>/verdict.* (--results: where that goes)")
    config(gather)
    roots(gather, runs=False)

    sub = command("submit", _submit, "CONFIG --engine slurm|k8s [--set KEY=VALUE] [--submit] [options]",
                  "write launch files for a cluster (and submit them with --submit)")
    config(sub)
    roots(sub)
    sub.add_argument("--allow-cpu", action="store_true", help="let scale: paper cells run without GPUs (tests)")
    sub.add_argument("--out", default=None, help="folder for the launch files (default: launch/<sweep>/)")
    submit.add_cost_arguments(sub)
    submit.add_arguments(sub)

    evaluate = command("eval", _eval, "[CONFIG] [--set KEY=VALUE] [--only GLOB,...] [--results DIR] [--runs DIR]",
                       "re-score finished cells' checkpoints (no training), regather")
    config(evaluate)
    only(evaluate)
    roots(evaluate)

    compare = command("compare", _compare, "A B [--out FILE] [--results DIR]",
                      "AP of B minus A, cells matched by their settings, as Markdown on stdout")
    compare.add_argument("a", metavar="A", help="a result folder or a sweep file (its results/<sweep>/)")
    compare.add_argument("b", metavar="B", help="the other result folder or sweep file")
    compare.add_argument("--out", default=None, help="also write the Markdown to this file (default: stdout only)")
    compare.add_argument("--results", default=RESULTS_ROOT, help="results root of a side given as a sweep file")
    parser.commands = commands.choices  # {name: sub-parser}
    return parser


def parse_args(argv=None):
    """argv -> the Namespace (command, handler, options). No command (nothing, or options only): run."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv.insert(0, "run")  # `python run_sweep.py [--jobs 1]` runs the embedded default
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # refused by the command's own parser: its usage line, then the option (exit 2)
        parser.commands[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv=None):
    options = vars(parse_args(argv))
    handler = options.pop("handler")
    options.pop("command")
    try:
        return handler(**options)
    except SweepConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except StorageError as error:  # disk full, permissions: what was written before stays
        print(f"error: {error}", file=sys.stderr)
        return 1


def _plan(config, overrides, only, **cost):
    """Prints every selected cell and the totals (and the cost with --step-seconds)."""
    sweep = _load(config, overrides)
    cells = select(sweep.cells, only)
    costs = submit.cost_lines(submit.CostOptions(**cost), sweep, cells) if cost else []
    print("\n".join(describe(sweep.name, cells, sweep.overrides) + costs))
    return 0


def _run(config, overrides, only, results, runs, jobs, shard, stage, allow_cpu, process_per_cell, dry_run):
    if dry_run:
        return _plan(config=config, overrides=overrides, only=only)
    sweep = _load(config, overrides)
    if jobs is not None and not 1 <= jobs <= MAX_JOBS:
        raise SweepConfigError(f"--jobs: {jobs} is out of range; valid: 1 to {MAX_JOBS}")
    cells = select(sweep.cells, only)
    runner.install_signal_handlers()  # first: a signal during preflight stops the run cleanly
    shard = shards.parse_shard(shard)
    if shard:
        cells = shards.task_cells(sweep, cells, shard)
    elif stage == "cells":
        runner.check_roots(results, runs)
    from sweep.execution import preflight_child  # every cell checked before any trains, TensorFlow in a child
    try:
        preflight_child.check(cells, allow_cpu=allow_cpu)
    except RuntimeError:
        if not runner.stopping():
            raise
    if runner.stopping():  # signalled before any cell started: nothing to save, requeue
        print("stopped on a signal before any cell started", file=sys.stderr)
        return PREEMPTED_EXIT
    results_dir = layout.results_dir(results, sweep.name)
    if shard:
        shards.ensure_plan(sweep, results_dir, shard[1])
    log = _log(shard)
    if stage == "pretrain":
        statuses = runner.run_pretrain_stage(sweep, results, runs, log)
    else:
        statuses = runner.run(sweep, cells, results_root=results, runs_root=runs, jobs=jobs,
                              warm=not process_per_cell, log=log, coordination=shards.ShardTask() if shard else None)
    return _finish(sweep, results_dir, statuses)


def _gather(config, overrides, results):
    if ladder.is_ladder_file(config):
        return _gather_ladder(config, overrides, results)
    sweep = load(config, overrides)  # not a ladder file: checked above
    _tables(sweep, layout.results_dir(results, sweep.name))
    return 0


def _load(config, overrides):
    """The sweep file's Sweep; a ladder file is refused in one line that says which command reads it."""
    if ladder.is_ladder_file(config):
        raise SweepConfigError(f"{config} is a ladder file, not a sweep: `run_sweep.py gather {config}` writes its "
                               "verdict; plan and run each rung's sweep file")
    return load(config, overrides)


def _gather_ladder(config, overrides, results):
    """Every run rung's tables in its own results folder (the ladder file says where), then the verdict."""
    if overrides:
        raise SweepConfigError(f"--set: {config} is a ladder file, which takes no overrides; edit its rungs' "
                               "sweep files instead")
    the_ladder = ladder.load(config)
    for rung in the_ladder.rungs:
        if os.path.isdir(rung.results_dir):
            _tables(rung.sweep, rung.results_dir)
        else:
            print(f"{rung.label}: not run yet ({rung.results_dir} does not exist)")
    built = verdict.write(the_ladder, results)
    print(f"verdict: {layout.report_path(layout.results_dir(results, built['verdict']), 'verdict.md')}")
    return 0


def _eval(config, overrides, only, results, runs):
    sweep = _load(config, overrides)
    cells = select(sweep.cells, only)
    from sweep.execution.reevaluate import reevaluate
    statuses = reevaluate(sweep, cells, results, runs, log=_log(None))
    statuses = {k: FINISHED if v == EVALUATED else v for k, v in statuses.items() if not v.startswith(SKIPPED)}
    return _finish(sweep, layout.results_dir(results, sweep.name), statuses)


def _submit(config, overrides, **options):
    return submit.submit(submit.SubmitOptions(**options), _load(config, overrides))


def _tables(sweep, results_dir):
    built = tables.gather(sweep.name, sweep.cells, results_dir)
    print(f"tables: {layout.report_path(results_dir, 'tables.md')} ({built['counts']})")


def _finish(sweep, results_dir, statuses):
    """run, eval: the tables, then each cell without a result on stderr; the exit code."""
    _tables(sweep, results_dir)
    for cid, status in statuses.items():
        if status != FINISHED:
            print(f"  {status}: {cid}", file=sys.stderr)
    return exit_code(statuses.values())


def exit_code(statuses):
    """75 when a cell stopped on a signal (and saved), else 1 when one has no result, else 0."""
    statuses = list(statuses)
    if PREEMPTED in statuses:
        return PREEMPTED_EXIT
    return EXIT_NOT_FINISHED if any(s not in RESULTS for s in statuses) else EXIT_OK


def _log(shard):
    """The runner's `log`: one line each, with the time, this host and the shard (stdout)."""
    logger = logging.getLogger("run_sweep")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stdout)
    where = f" shard {shard[0]}/{shard[1]}" if shard else ""
    host = socket.gethostname().replace("%", "%%")
    handler.setFormatter(logging.Formatter(f"%(asctime)s {host}{where} | %(message)s", "%Y-%m-%d %H:%M:%S"))
    logger.addHandler(handler)
    return logger.info


def _results_dir(path, results_root):
    """A result folder as given, or a sweep file's results/<sweep>/."""
    if os.path.isdir(path):
        return path
    if os.path.isfile(path):
        return layout.results_dir(results_root, load(path).name)
    raise SweepConfigError(f"compare: {path!r} is neither a result folder nor a sweep file")


def _compare(a, b, out, results):
    """Prints the Markdown of B minus A; writes it to `out` only when given."""
    from sweep.reports import compare
    a, b = (_results_dir(p, results) for p in (a, b))
    found = compare.compare(a, b)
    if not found["cells"]:
        raise SweepConfigError(f"compare: no finished cell of {a} has the settings of one in {b}")
    print(compare.markdown(found))
    if out:
        print(f"written: {compare.write(found, out)}", file=sys.stderr)
    return 0


def _quiet_broken_pipe(run):
    """run(); a reader that went away (`plan | head -1`) ends it quietly, as Python's docs recommend
    (library/signal.html, "Note on SIGPIPE"): stdout pointed at devnull so the exit flush cannot fail."""
    try:
        code = run()
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(_quiet_broken_pipe(main))

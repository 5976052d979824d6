"""Child process of a sweep: trains and evaluates one cell and records it (finished/failed/diverged).

    python -m sweep.execution.cell_main --spec runs/<sweep>/<id>/spec.json --result results/<sweep>/cells/<id>.json

spec.json: {"cell": Cell.as_dict(), "init_checkpoint": its resolved checkpoint (the pretrain
step's directory for init_checkpoint: pretrain), "overrides": the sweep's `--set KEY=VALUE` texts}.
A result records the overrides when there are some (the cell's values, which they changed, are in
its id and settings either way).
"""
import traceback

from sweep.execution import child
from sweep.grid.cell import Cell
from sweep.store.results import RESULT_FORMAT
from sweep.store.status import DIVERGED, FAILED, FINISHED

SUMMARY_KEYS = ("status", "id")  # the one-line summary printed after the result is written


def run(spec, run_dir):
    from detection.phases import PhaseClock
    clock = PhaseClock()  # from the runner's spawn time: imports count as start-up
    cell = Cell.from_dict(spec["cell"])
    result = {"cell": cell.as_dict(), "id": cell.id, "format": RESULT_FORMAT, "init_checkpoint": spec["init_checkpoint"]}
    if spec.get("overrides"):
        result["overrides"] = spec["overrides"]
    from detection import preemption, strategy
    from detection.divergence import Diverged, first_nonfinite_step
    print(f"cell {cell.id}: started; SIGUSR1 or SIGTERM saves a checkpoint and stops", flush=True)
    try:
        strategy.configure_devices(cell.replicas)  # before anything starts TensorFlow's runtime
        import tf_keras

        from detection import hparams_summary
        from detection.cell_config import experiment_config
        from detection.cell_training import run_cell
        tf_keras.utils.set_random_seed(cell.seed)
        metrics = run_cell(experiment_config(cell, spec["init_checkpoint"]), run_dir, replicas=cell.replicas,
                           clock=clock)
        if not strategy.is_chief():
            return None  # a worker of a multi-worker cell: the chief evaluates and records it
        hparams_summary.write(run_dir, cell.id, cell.hparams(), metrics)
        diverged = first_nonfinite_step(metrics["losses"])
        result.update(metrics, status=DIVERGED if diverged is not None else FINISHED, diverged_step=diverged)
    except preemption.Preempted:
        raise  # sweep/execution/child.py: no result, the preempted exit code
    except Diverged as error:  # a result, not a crash: not rerun
        result.update(status=DIVERGED, diverged_step=error.step, error=str(error)[:1000])
    except Exception as error:  # recorded, and the sweep goes on with the next cell
        result.update(status=FAILED, diverged_step=None, error=f"{type(error).__name__}: {error}"[:1000],
                      traceback=traceback.format_exc()[-4000:])
    if strategy.is_chief():
        return result
    if result.get("status") == FAILED:  # this worker failed: it says so; the chief records the cell
        print(f"{strategy.task_name()}: {result['error']}\n{result['traceback']}", flush=True)
        child.exit_now(1)
    return None  # a worker of a multi-worker cell: the chief evaluates and records it


if __name__ == "__main__":
    child.main(__doc__, run, SUMMARY_KEYS)

"""`run`'s preflight (sweep/execution/preflight.py) in a child process, so the runner never starts TensorFlow.

TensorFlow maps nearly all memory of every visible GPU when its runtime starts in a process; a
runner that read one TFRecord eagerly would hold every GPU for the whole sweep and its cells would
run out of memory. The child checks every cell with the GPUs hidden from its runtime (their count
is still read) and answers with the one-line error, if any; the runner stays TensorFlow-free.

    python -m sweep.execution.preflight_child [--allow-cpu] < cells.json      (a list of Cell.as_dict())
"""
import json
import subprocess
import sys

from common.paths import REPO_ROOT
from sweep.errors import SweepConfigError


def check(cells, allow_cpu=False):
    """Runs preflight.check(cells) in a child; raises SweepConfigError with its message when it refuses."""
    command = [sys.executable, "-m", "sweep.execution.preflight_child", *(["--allow-cpu"] if allow_cpu else [])]
    done = subprocess.run(command, input=json.dumps([c.as_dict() for c in cells]), capture_output=True,
                          text=True, cwd=REPO_ROOT)
    lines = done.stderr.strip().splitlines()
    if done.returncode == 2 and lines and lines[-1].startswith("error: "):
        raise SweepConfigError(lines[-1].removeprefix("error: "))
    if done.returncode:
        raise RuntimeError(f"preflight exited with {done.returncode}:\n" + "\n".join(lines[-30:]))


def main(argv=None):
    from common.legacy_keras import use_legacy_keras
    use_legacy_keras()
    import tensorflow as tf

    from sweep.execution import preflight
    from sweep.grid.cell import Cell
    tf.config.set_visible_devices([], "GPU")  # before the runtime starts; physical GPUs are still counted
    argv = sys.argv[1:] if argv is None else argv
    cells = [Cell.from_dict(d) for d in json.load(sys.stdin)]
    try:
        preflight.check(cells, allow_cpu="--allow-cpu" in argv)
    except SweepConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

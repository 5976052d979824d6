"""How a sweep's child process ends once its result file is written."""
import os
import sys


def exit_now(code):
    """Ends the child without interpreter teardown, once its result file is on disk (fsynced).

    Measured with py-spy on finished cells: teardown took 8-38 s, in tf.data's
    ~IteratorResource joining the training input pipeline's worker threads and in CPython's final
    garbage collection of the traced graphs. Nothing of the cell is left to save by then, so the
    child ends the way multiprocessing's children do: streams flushed, then os._exit.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)

"""Execution: running a sweep's cells on this machine, one child process (or warm worker) each.

runner.py (claims, lanes, signals, the pretrain step; it never knows whether it is one task of a
cluster job: a `coordination` object tells it how to share the sweep) -> child.py / cell_main.py /
pretrain_main.py (the processes that import TensorFlow) or cell_worker.py via worker_pool.py;
preflight.py checks every cell before any trains (in preflight_child.py's process); reevaluate.py
re-scores finished cells. A new kind of unit is a child module with main() from child.py.
"""

"""sweep/: a YAML grid validated and expanded into cells, run, recorded and tabulated, in five wings.

    grid/       the sweep file -> cells (no TensorFlow)
    store/      paths, statuses and result files (no TensorFlow)
    execution/  running cells here (its child processes import TensorFlow)
    cluster/    launch files and shards for Slurm and Kubernetes
    reports/    tables, statistics, comparisons, the verdict

store/ imports only grid/; execution/, cluster/ and reports/ import only grid/ and store/; all may
import errors.py (tests/test_layering.py). `run_sweep.py plan` and `gather` never import TensorFlow.
"""

"""sweep/: a YAML grid validated and expanded into cells, run, recorded and tabulated.

What `run_sweep.py plan` and `gather` import never imports TensorFlow (tests/test_layering.py);
the child processes (sweep/cell_main.py, sweep/pretrain_main.py) and sweep/preflight.py do.
"""

"""Sweeps: a YAML grid validated and expanded into cells with the paper's scaling rules.

Nothing here imports TensorFlow: `run_sweep.py plan` and every config error are instant.
"""

"""The names of a unit's outcome and the exit codes that carry them, for every wing of the sweep.

A result file's status is FINISHED, FAILED or DIVERGED. A run's answer for a cell adds PENDING
(no result yet), PREEMPTED (stopped on a signal at a checkpoint, resumable; never in a file) and
WORKER_DONE (a non-chief worker's part of a multi-worker cell: the chief recorded the result).
`eval` answers EVALUATED or SKIPPED for each cell. Exit codes: the runner's, a child's and a
warm worker's cells' (sweep/execution/child.py), read by the launch files (sweep/cluster/).
"""
FINISHED, FAILED, DIVERGED = "finished", "failed", "diverged"
DONE = (FINISHED, DIVERGED)  # not rerun: a diverged cell is a result (see its step), not a crash
PENDING = "pending"
PREEMPTED = "preempted"
WORKER_DONE = "worker done"
EVALUATED, SKIPPED = "evaluated", "skipped"

EXIT_OK = 0  # every selected cell has a result (finished or diverged)
EXIT_NOT_FINISHED = 1  # some cell failed, or is still pending
EXIT_BAD_INPUT = 2  # a config or data error, before any training
PREEMPTED_EXIT = 75  # EX_TEMPFAIL: stopped on a signal, checkpoint saved, no result written; rerun resumes

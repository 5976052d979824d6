"""Where the repository and its default output folders are."""
import os

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS_ROOT = os.path.join(REPO_ROOT, "results")  # small text artifacts (tracked)
RUNS_ROOT = os.path.join(REPO_ROOT, "runs")        # checkpoints, events, logs (git-ignored)
DATA_ROOT = os.path.join(REPO_ROOT, "data")        # generated datasets (git-ignored)

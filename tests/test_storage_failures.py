"""Result, status and table files are written atomically; a failed write names the path and the reason
and leaves earlier files intact."""
import errno
import json
import os
import subprocess
import sys

import pytest

from common import storage
from common.storage import write_json_atomic
from sweep.grid.spec import parse
from sweep.reports import tables
from sweep.store.layout import cell_result_path
from sweep.store.results import RESULT_FORMAT, read_json

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SWEEP = {"sweep": "s", "base": {"replicas": 1}, "scaling": {"base_batch": 16, "base_steps": 10},
         "blocks": {"scratch": {"grid": {"norm": ["bn", "frn"]}}}}


def test_disk_full_while_writing_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "cells" / "a.json"
    write_json_atomic(str(path), {"status": "finished", "AP": 0.3})

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(storage.os, "fsync", full)
    with pytest.raises(storage.StorageError, match=r"cannot write .*a\.json: No space left on device; "
                                                   r"earlier results are untouched"):
        write_json_atomic(str(path), {"status": "finished", "AP": 0.9})
    assert read_json(str(path)) == {"status": "finished", "AP": 0.3}
    assert os.listdir(path.parent) == ["a.json"]  # no temporary file left behind


def test_gather_that_cannot_write_exits_1_with_one_line_and_keeps_results(tmp_path):
    sweep = parse(SWEEP)
    name, cells = sweep.name, sweep.cells
    results_dir = tmp_path / "results" / name
    for cell in cells:
        write_json_atomic(cell_result_path(str(results_dir), cell.id),
                          {"status": "finished", "cell": cell.as_dict(), "format": RESULT_FORMAT,
                           "coco": {k: 0.25 for k in tables.STATS}, "steps": cell.steps})
    (results_dir / "tables.md").mkdir()  # something that is not a file where the table goes
    config = tmp_path / "s.yaml"
    config.write_text(json.dumps(SWEEP))
    before = {p.name: p.read_text() for p in (results_dir / "cells").iterdir()}
    result = subprocess.run([sys.executable, "run_sweep.py", "gather", str(config), "--results", str(tmp_path / "results")],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot write") and "tables.md" in lines[0], result.stderr
    assert {p.name: p.read_text() for p in (results_dir / "cells").iterdir()} == before


def test_remote_paths_go_through_gfile():
    path = "ram://frn-bench/results/cells/x.json"
    storage.write_json_atomic(path, {"status": "finished"})
    assert read_json(path) == {"status": "finished"}
    assert storage.listdir("ram://frn-bench/results/cells") == ["x.json"]


def test_run_refuses_remote_results_before_anything_starts(tmp_path):
    config = tmp_path / "s.yaml"
    config.write_text(json.dumps(SWEEP))
    result = subprocess.run([sys.executable, "run_sweep.py", "run", str(config), "--results", "gs://bucket/results"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and "run needs local (or NFS) --results" in result.stderr, result.stderr

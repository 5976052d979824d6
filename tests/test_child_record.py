"""A unit's result is written once: a duplicate task of a job array never replaces a finished result."""
import json

from sweep.execution.child import record


def test_the_first_finished_result_stays(tmp_path, capsys):
    path = str(tmp_path / "cells" / "c.json")
    record(path, {"status": "finished", "AP": 0.25})
    record(path, {"status": "finished", "AP": 0.30})  # a second task of the same index
    assert json.loads(open(path).read())["AP"] == 0.25
    assert "already holds a result" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "cells").iterdir()) == ["c.json"]  # no temporary file left


def test_a_failed_result_is_replaced_by_a_later_run(tmp_path):
    path = str(tmp_path / "c.json")
    record(path, {"status": "failed", "error": "out of memory"})
    record(path, {"status": "finished", "AP": 0.25})
    assert json.loads(open(path).read()) == {"status": "finished", "AP": 0.25}

"""The dependency direction common <- norm_layers <- backbones <- detection <- sweep <- run_sweep.py,
and `plan` / `gather` without TensorFlow, checked on the source and in a fresh interpreter."""
import ast
import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
ORDER = ["common", "norm_layers", "backbones", "detection", "sweep"]  # each may import only those before it
# what `run_sweep.py plan` and `gather` import: never TensorFlow or Model Garden
LIGHT_MODULES = ["run_sweep", "sweep.grid.spec", "sweep.grid.plan", "sweep.grid.selection", "sweep.grid.keys",
                 "sweep.grid.checks", "sweep.grid.cell", "sweep.reports.ladder", "sweep.store.results", "sweep.store.claims",
                 "sweep.store.layout", "sweep.store.status", "sweep.execution.runner", "sweep.cluster.shards",
                 "sweep.cluster.submit", "sweep.reports.tables", "sweep.reports.verdict", "common.storage",
                 "common.paths", "norm_layers.group_policy", "detection.detectors"]
# the wings of sweep/: each may import sweep.errors and the wings listed for it, never the others
WINGS = {"grid": set(), "store": {"grid"}, "execution": {"grid", "store"}, "cluster": {"grid", "store"},
         "reports": {"grid", "store"}}


def _first_party_imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0]


@pytest.mark.parametrize("package", ORDER)
def test_packages_import_only_the_layers_below_them(package):
    allowed = set(ORDER[:ORDER.index(package) + 1])
    forbidden = set(ORDER) - allowed | {"tests", "benchmarks", "run_sweep"}
    offenders = sorted({f"{path.relative_to(ROOT)} imports {name}"
                        for path in (ROOT / package).rglob("*.py")
                        for name in _first_party_imports(path) if name in forbidden})
    assert not offenders, offenders


def _sweep_imports(path):
    """The sweep sub-packages `path` imports (sweep.grid.spec -> grid; sweep.errors -> errors)."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
            [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else [])
        for name in names:
            parts = name.split(".")
            if parts[0] == "sweep" and len(parts) > 1:
                yield parts[1]
            elif isinstance(node, ast.ImportFrom) and name == "sweep":
                yield from (alias.name for alias in node.names)


def test_sweep_has_exactly_its_wings_and_the_shared_errors():
    folders = {p.name for p in (ROOT / "sweep").iterdir() if p.is_dir() and p.name != "__pycache__"}
    modules = {p.name for p in (ROOT / "sweep").glob("*.py")}
    assert folders == set(WINGS) and modules == {"__init__.py", "errors.py"}, (folders, modules)
    for wing in WINGS:
        assert ast.get_docstring(ast.parse((ROOT / "sweep" / wing / "__init__.py").read_text())), wing


@pytest.mark.parametrize("wing", WINGS)
def test_each_wing_of_sweep_imports_only_the_wings_it_may(wing):
    allowed = WINGS[wing] | {wing, "errors"}
    offenders = sorted({f"{path.relative_to(ROOT)} imports sweep.{name}"
                        for path in (ROOT / "sweep" / wing).rglob("*.py")
                        for name in _sweep_imports(path) if name not in allowed})
    assert not offenders, offenders


def test_the_wing_check_sees_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from sweep.execution import runner\nimport sweep.cluster.shards\nfrom sweep import reports\n")
    assert set(_sweep_imports(bad)) == {"execution", "cluster", "reports"}


def test_the_layering_check_sees_a_violation(tmp_path):
    """The check above would fail on a file that imports upward."""
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nfrom sweep.grid.spec import load\nif True:\n    import detection.train\n")
    assert {"sweep", "detection"} <= set(_first_party_imports(bad))


def test_plan_and_gather_modules_never_import_tensorflow(tmp_path):
    code = (f"import importlib, json, sys\n"
            f"for name in {LIGHT_MODULES!r}:\n"
            f"    importlib.import_module(name)\n"
            f"import run_sweep\n"
            f"rc = run_sweep.main(['gather', sys.argv[1], '--results', sys.argv[2]])\n"
            f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'official', 'tf_keras'))\n"
            f"print(json.dumps({{'rc': rc, 'heavy': heavy[:5]}}))\n")
    config = ROOT / "configs" / "default.yaml"
    result = subprocess.run([sys.executable, "-c", code, str(config), str(tmp_path / "results")], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"rc": 0, "heavy": []}
    assert (tmp_path / "results" / "default" / "tables.md").exists()

"""The grid: a sweep file validated and expanded into cells, without TensorFlow.

keys.py (every key, its type, default and range) -> checks.py (one-line errors) -> spec.py (load:
the file plus --set overrides -> a Sweep of Cells) -> cell.py (a Cell and its content-addressed id);
selection.py (--only), plan.py (the `plan` listing).
To add a sweep key: a row in keys.py, its use in spec.py's cell(), a field of Cell if it changes
training. Detector facts (names, components, strides) live in detection/detectors.py.
"""

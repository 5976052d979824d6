"""Reports: what a sweep's results say, read only through the store (sweep/store/).

tables.py (`gather`: per-cell and best-lr tables, CSV/JSON, figures) with model_selection.py (the
named rule that picks each entry's lr multiplier: a new rule is a function of the same signature),
stats.py (paired intervals and tests), curves.py and figures.py (PNGs); compare.py (B minus A, cells matched by
settings); ladder.py (a ladder file: rungs of sweeps and their result folders) and verdict.py (the
answer across the rungs). A new table is a function of the rows tables.py builds; a new figure
goes through figures.save_png.
"""

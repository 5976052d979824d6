"""`--only`: the cells of a sweep a command works on (every command that takes cells uses it)."""
import fnmatch

from sweep.errors import SweepConfigError


def select(cells, only):
    """Cells whose id matches any of the comma-separated globs or substrings in `only`.

    A pattern that matches no cell is an error naming it and a few valid ids (a typo in --only
    never becomes a silent empty run).
    """
    if not only:
        return list(cells)
    patterns = [p.strip() for p in only.split(",") if p.strip()]
    for pattern in patterns:
        if not any(fnmatch.fnmatch(c.id, pattern) or pattern in c.id for c in cells):
            examples = ", ".join(c.id for c in list(cells)[:3])
            raise SweepConfigError(f"--only: {pattern!r:.70} matches no cell of this sweep; cell ids look like "
                                   f"{examples} (globs or substrings; `plan` lists them all)")
    return [c for c in cells if any(fnmatch.fnmatch(c.id, p) or p in c.id for p in patterns)]

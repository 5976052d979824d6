"""Checks of sweep-file values: keys, types, finiteness and ranges, each failing with one line."""
import math

from sweep.errors import SweepConfigError, did_you_mean


def where(path):
    return ".".join(str(p) for p in path)


def check_keys(mapping, allowed, path):
    if not isinstance(mapping, dict):
        raise SweepConfigError(f"{where(path) or 'the file'}: expected a mapping, got {type(mapping).__name__} "
                               f"{_short(mapping)}")
    for key in mapping:
        if key not in allowed:
            raise SweepConfigError(f"{where(path + [key])}: unknown key{did_you_mean(key, allowed)}; "
                                   f"valid keys: {', '.join(allowed)}")


def check_type(value, types, path):
    if isinstance(value, bool) or not isinstance(value, types):
        if not (isinstance(value, bool) and bool in types):
            names = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise SweepConfigError(f"{where(path)}: {_short(value)} has type {type(value).__name__}; "
                                   f"expected {names}")


def check_value(value, key, path):
    """Type, then (for numbers) finiteness and the key's Range (sweep/grid/keys.py)."""
    check_type(value, key.types, path)
    if key.range is not None and isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise SweepConfigError(f"{where(path)}: {value!r} is not a finite number; valid: {key.range.text}")
        if not key.range.holds(value):
            raise SweepConfigError(f"{where(path)}: {_short(value)} is out of range; valid: {key.range.text}")


def settings(defaults, given, keys, path):
    """`defaults` updated with the checked values of `given` (a mapping of keys in `keys`)."""
    check_keys(given, keys, path)
    merged = dict(defaults)
    for key, value in given.items():
        check_value(value, keys[key], path + [key])
        merged[key] = value
    return merged


def _short(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."

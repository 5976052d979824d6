"""The one error type of sweep configs: a message naming the key, the bad value and the choices."""
import difflib


class SweepConfigError(ValueError):
    """A bad sweep config; `str(error)` is one line: where, what, and what is valid."""


def did_you_mean(word, choices):
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""

"""The one exception family nasxfer raises for bad input.

Every message names the problem *and* the fix, so a user who meets one in a
notebook knows what to change without reading our source.
"""


class NasxferError(ValueError):
    """Bad input to nasxfer: the message says what is wrong and how to fix it."""


class DataFileError(NasxferError):
    """A benchmark data file is missing, corrupt, or not the file we expect."""


class UnknownNameError(NasxferError, KeyError):
    """An unknown task, benchmark or option name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def unknown(kind: str, name: object, known) -> UnknownNameError:
    """The error for an unknown `kind` called `name`, listing the valid names."""
    choices = ", ".join(repr(k) for k in known)
    return UnknownNameError(f"unknown {kind} {name!r}; choose one of: {choices}")


def is_int(value, minimum: int | None = None) -> bool:
    """True for an integer (never a bool: ``True`` is an int to Python, never a count to us)
    that is at least `minimum`."""
    import numbers

    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    return ok and (minimum is None or value >= minimum)


def check_int(value, name: str, minimum: int | None = None) -> int:
    """`value` as an int, refusing bools, floats, strings and values below `minimum`, with an
    error that names `name`."""
    if not is_int(value, minimum):
        need = "an integer" if minimum is None else f"an integer >= {minimum}"
        raise NasxferError(f"{name} must be {need}, got {value!r}")
    return int(value)

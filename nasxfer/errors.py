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


def check_int(value, name: str, minimum: int | None = None) -> int:
    """`value` as an int, refusing bools (``True`` is an int to Python, never a count to us),
    floats and strings, and values below `minimum`, with an error that names `name`."""
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise NasxferError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if minimum is not None and value < minimum:
        raise NasxferError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)

"""The exception types of microflat's runtime API.

Catch ``MicroflatError`` for every user-facing failure. Its subclasses say
more: ``FormatError`` for a damaged or unsupported model file (with the field
and byte offset), ``InputError`` for an input of the wrong shape or dtype (or
holding a value the model refuses when it runs: a GATHER index outside its
table), and ``CompileError`` for a PyTorch model the compiler cannot turn into
a .mfb.
"""

from __future__ import annotations


class MicroflatError(ValueError):
    """Base of every error microflat reports about user input."""


class FormatError(MicroflatError):
    """A .mfb file failed verification.

    Attributes:
      field:  the path of the offending field, e.g. "operators[3].options.stride_h".
      offset: the byte offset in the file where that field (or its table) lies,
              or None when the problem is not at one place (e.g. the file's length).
      reason: what is wrong, in words.
    """

    def __init__(self, field: str, offset: int | None, reason: str):
        self.field = field
        self.offset = offset
        self.reason = reason
        where = f" at byte {offset}" if offset is not None else ""
        super().__init__(f"{field}{where}: {reason}")


class InputError(MicroflatError):
    """An input array does not fit the model (shape, dtype, count), or holds a value the model refuses at invoke
    (a GATHER index outside its table: the op writes nothing)."""


class CompileError(MicroflatError):
    """The compiler cannot lower or quantize a model: an unsupported op (named with
    its graph node and the user's source line), a dynamic shape, an int32
    accumulator that could overflow, or bad calibration data."""

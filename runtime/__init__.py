"""microflat's runtime: load -> verify -> plan -> execute.

    from microflat.runtime import Interpreter, load_file, FormatError, MicroflatError
    it = Interpreter("model.mfb")            # maps, verifies every byte, prepares once
    (y,) = it.invoke(x)                      # int8 or float32 input, batch first

Every user-facing failure raises MicroflatError: FormatError for a damaged or
unsupported file (naming the field and its byte offset), InputError for an
input of the wrong shape or dtype.
"""

from .errors import CompileError, FormatError, InputError, MicroflatError
from .interpreter import Interpreter
from .loader import LoadedModel, load_bytes, load_file

__all__ = ["CompileError", "FormatError", "InputError", "Interpreter", "LoadedModel", "MicroflatError", "load_bytes", "load_file"]

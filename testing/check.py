"""check_kernel: property-test a kernel with microflat's public signature against the int64 references.

    from microflat.testing import check_kernel
    check_kernel("conv2d", my_conv2d)            # raises KernelMismatch with a runnable reproduction

For each op, ``kernel_calls(op)`` draws a whole call (positional arrays, keyword parameters, and the
expected output from the int64 reference) from the edge-heavy strategies of layer_cases and op_cases.
check_kernel runs the kernel on them under hypothesis, lets hypothesis shrink the first failure, and
reports the shrunk case as Python source that rebuilds the arrays and parameters and holds the expected
and the actual outputs.

Independence: the expected outputs come from int_reference, layer_references and ops_reference, which
are plain int64 numpy written from TFLite's definitions; nothing here imports microflat's kernels,
compiler or runtime (and the runtime never imports this package, so it needs no hypothesis).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from . import layer_references, ops_reference
from .layer_cases import conv2d_cases, depthwise_cases, fully_connected_cases
from .op_cases import add_cases, mul_cases, pool_cases, pool_geometry, softmax_cases

__all__ = ["OPS", "KernelCall", "KernelMismatch", "check_kernel", "kernel_calls", "reproduction"]


class KernelMismatch(AssertionError):
    """A kernel's output differs from the int64 reference (or it raised) on a case; the message is the
    case shrunk by hypothesis, as a runnable reproduction (see ``reproduction``)."""

    def __init__(self, message: str, call: "KernelCall", actual):
        super().__init__(message)
        self.call = call
        self.actual = actual


@dataclass
class KernelCall:
    """One call of an op's public kernel: ``fn(*args, **kwargs)`` must equal ``expected``. ``names`` are the
    positional parameters' names in microflat.kernels' signature (used by the reproduction)."""

    op: str
    names: tuple
    args: tuple
    kwargs: dict
    expected: np.ndarray


# --- one strategy per op: a drawn case as the public signature's arguments, with its int64 result -------------


def _layer_call(op, case, reference):
    return KernelCall(op, ("input", "filter", "bias"), (case.x, case.w, case.bias), dict(case.kwargs),
                      reference(case))


# Half the layer cases pad SAME on both axes: padding is one argument for both, so in the mixed draws of
# layer_cases SAME comes out on both axes only one time in nine, and its odd extra row or column (after,
# never before) is a classic bug that must stay in play.
@st.composite
def _conv2d(draw):
    case = draw(st.one_of(conv2d_cases(), conv2d_cases(modes=("same",))))
    return _layer_call("conv2d", case, layer_references.conv2d_reference)


@st.composite
def _depthwise_conv2d(draw):
    case = draw(st.one_of(depthwise_cases(), depthwise_cases(modes=("same",))))
    return _layer_call("depthwise_conv2d", case, layer_references.depthwise_reference)


@st.composite
def _fully_connected(draw):
    return _layer_call("fully_connected", draw(fully_connected_cases()), layer_references.fully_connected_reference)


def _pool(op, reference):
    @st.composite
    def calls(draw):
        x, f, s, pad, lo, hi = draw(pool_cases())
        (oh, pt), (ow, pl) = pool_geometry(x, f, s, pad)
        expected = reference(x, *f, *s, pt, pl, oh, ow, lo, hi)
        return KernelCall(op, ("input", "filter_size"), (x, f), dict(stride=s, padding=pad, act_min=lo, act_max=hi),
                          expected)
    return calls


def _binary(op, cases, reference):
    @st.composite
    def calls(draw):
        a, b, p = draw(cases())
        return KernelCall(op, ("input1", "input2"), (a, b), dict(p), reference(a, b, p))
    return calls


@st.composite
def _softmax(draw):
    x, mult, shift, diff_min = draw(softmax_cases())
    return KernelCall("softmax", ("input",), (x,),
                      dict(input_beta_mult=mult, input_left_shift=shift, diff_min=diff_min),
                      ops_reference.softmax(x, mult, shift, diff_min))


# op name (microflat.kernels' function) -> strategy of KernelCall
OPS: dict[str, Callable[[], st.SearchStrategy]] = {
    "conv2d": _conv2d,
    "depthwise_conv2d": _depthwise_conv2d,
    "fully_connected": _fully_connected,
    "average_pool2d": _pool("average_pool2d", ops_reference.average_pool2d),
    "max_pool2d": _pool("max_pool2d", ops_reference.max_pool2d),
    "add": _binary("add", add_cases, ops_reference.add),
    "mul": _binary("mul", mul_cases, ops_reference.mul),
    "softmax": _softmax,
}


def kernel_calls(op: str) -> st.SearchStrategy:
    """The hypothesis strategy of KernelCall for ``op`` (one of OPS), for use in one's own ``@given``."""
    if op not in OPS:
        raise ValueError(f"check_kernel: unknown op {op!r}; one of {sorted(OPS)}")
    return OPS[op]()


# --- the reproduction -----------------------------------------------------------------------------------------


def _literal(v) -> str:
    """Python source that rebuilds v: arrays as np.array([...], dtype=np.<type>) literals, with their shape."""
    if isinstance(v, np.ndarray):
        return f"np.array({v.tolist()!r}, dtype=np.{v.dtype})"
    if isinstance(v, np.integer):
        return repr(int(v))
    if isinstance(v, tuple):
        return "(" + ", ".join(_literal(e) for e in v) + ("," if len(v) == 1 else "") + ")"
    if isinstance(v, list):
        return "[" + ", ".join(_literal(e) for e in v) + "]"
    return repr(v)


def reproduction(call: KernelCall, actual) -> str:
    """Runnable Python source of a failing call. Executed, it defines the positional arrays under their
    parameter names, ``args``, ``kwargs``, ``expected`` and ``actual`` (the kernel's output, or the repr of
    what it raised); ``kernel(*args, **kwargs)`` is the call to repeat."""
    lines = ["import numpy as np", ""]
    lines += [f"{name} = {_literal(value)}" for name, value in zip(call.names, call.args)]
    lines.append(f"args = ({', '.join(call.names)}{',' if len(call.names) == 1 else ''})")
    lines.append("kwargs = dict(" + ", ".join(f"{k}={_literal(v)}" for k, v in call.kwargs.items()) + ")")
    lines.append(f"expected = {_literal(call.expected)}  # the int64 reference")
    if isinstance(actual, BaseException):
        lines.append(f"actual = {f'{type(actual).__name__}: {actual}'!r}  # the kernel raised")
    else:
        lines.append(f"actual = {_literal(np.asarray(actual))}")
    lines.append(f"# kernel(*args, **kwargs) must equal expected: microflat.kernels.{call.op}'s signature")
    return "\n".join(lines)


def _mismatch(call: KernelCall, actual) -> str | None:
    """Why actual is not the expected output, or None when it is (same shape, dtype and values)."""
    if isinstance(actual, BaseException):
        return f"raised {type(actual).__name__}: {actual}"
    if not isinstance(actual, np.ndarray):
        return f"returned {type(actual).__name__}, not a numpy array"
    if actual.shape != call.expected.shape:
        return f"output shape {actual.shape}, expected {call.expected.shape}"
    if actual.dtype != call.expected.dtype:
        return f"output dtype {actual.dtype}, expected {call.expected.dtype}"
    wrong = np.argwhere(actual != call.expected)
    if wrong.size:
        first = tuple(int(i) for i in wrong[0])
        return (f"{len(wrong)} of {actual.size} outputs differ; first at {first}: "
                f"{int(actual[first])}, expected {int(call.expected[first])}")
    return None


# --- check_kernel ---------------------------------------------------------------------------------------------


def check_kernel(op: str, fn: Callable, *, max_examples: int = 100, against: str = "int64",
                 derandomize: bool | None = None) -> None:
    """Property-test ``fn``, a callable with the signature of ``microflat.kernels.<op>``, against the int64
    reference on ``max_examples`` edge-heavy cases drawn by hypothesis.

    op: one of OPS (conv2d, depthwise_conv2d, fully_connected, average_pool2d, max_pool2d, add, mul, softmax).
    fn: called as fn(*call.args, **call.kwargs) on copies of the drawn arrays; e.g.
        functools.partial(microflat.kernels.conv2d, backend="c").
    against: "int64" (bit-exact against TFLite's integer arithmetic). "float" is not implemented yet.
    derandomize: draw the same cases on every run (hypothesis's setting); None: the loaded profile's.

    Returns None when every case matches. Otherwise raises KernelMismatch (an AssertionError) naming the op,
    saying what differs, and holding the failing case *after hypothesis has shrunk it* as runnable source
    (``reproduction``); the exception's ``call`` and ``actual`` attributes hold the same case as objects.
    """
    if against == "float":
        raise NotImplementedError("check_kernel(against='float') is not implemented yet; use against='int64'")
    if against != "int64":
        raise ValueError(f"check_kernel: against must be 'int64' (or, later, 'float'), not {against!r}")
    strategy = kernel_calls(op)
    # Hypothesis replays the shrunk falsifying example once more before it raises, so the last failure
    # recorded here is the shrunk one (report_multiple_bugs=False: one bug, the smallest example of it).
    failures: list[tuple[KernelCall, object, str]] = []

    # No database (a user's run must not depend on earlier ones), no deadline (first calls JIT-compile),
    # and the shrink phase always on: the report is the smallest failing case hypothesis can find.
    chosen = {} if derandomize is None else {"derandomize": derandomize}

    @settings(max_examples=max_examples, database=None, deadline=None, report_multiple_bugs=False,
              phases=(Phase.explicit, Phase.generate, Phase.shrink), suppress_health_check=list(HealthCheck),
              **chosen)
    @given(call=strategy)
    def property_(call: KernelCall) -> None:
        # Copies: a kernel that writes into its inputs must not change the case the reproduction prints.
        args, kwargs = copy.deepcopy(call.args), copy.deepcopy(call.kwargs)
        try:
            actual = fn(*args, **kwargs)
        except Exception as e:  # noqa: BLE001  (a kernel that raises on a valid case fails the check)
            actual = e
        why = _mismatch(call, actual)
        if why is not None:
            failures.append((call, actual, why))
            raise AssertionError(why)

    try:
        property_()
    except Exception:
        if not failures:
            raise  # not a mismatch: a strategy or hypothesis error, reported as is
        call, actual, why = failures[-1]
        name = getattr(fn, "__name__", None) or getattr(getattr(fn, "func", None), "__name__", None) or repr(fn)
        message = (f"check_kernel({op!r}): {name} differs from the int64 reference: {why}.\n"
                   f"The failing case, shrunk by hypothesis, as a runnable reproduction:\n\n"
                   f"{reproduction(call, actual)}\n")
        raise KernelMismatch(message, call, actual) from None

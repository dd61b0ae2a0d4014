"""microflat.testing: property-test your own int8 kernels against TFLite's integer arithmetic.

Install with the ``testing`` extra (``pip install microflat[testing]``): this package imports hypothesis,
which microflat's runtime never needs and never imports.

    check_kernel(op, fn, *, max_examples=100, against="int64")
        Runs ``fn`` (any callable with the signature of ``microflat.kernels.<op>``) on edge-heavy hypothesis
        cases and compares it, bit for bit, with the int64 reference; on a mismatch raises KernelMismatch
        (an AssertionError) whose message is the shrunk failing case as runnable Python.
    kernel_calls(op), OPS
        The per-op strategies behind check_kernel (conv2d, depthwise_conv2d, fully_connected, average_pool2d,
        max_pool2d, add, mul, softmax), for one's own ``@given`` tests.

Modules:
    int_reference      plain int64 numpy references of the fixed-point helpers and convolutions
    layer_references   conv2d / depthwise / fully connected references on layer_cases' cases
    ops_reference      add, mul, pooling, softmax, ... references
    layer_cases        hypothesis strategies for the layers (edge values always in play)
    op_cases           hypothesis strategies for add, mul, pooling and softmax

The references are written from TFLite's definitions in other formulations than microflat's kernels and
never import microflat's kernels, compiler or runtime; microflat's own tests use these same modules.
"""

from .check import OPS, KernelCall, KernelMismatch, check_kernel, kernel_calls, reproduction

__all__ = ["OPS", "KernelCall", "KernelMismatch", "check_kernel", "kernel_calls", "reproduction"]

"""copy_elements: dst[:] = src inside jitted kernels, without Numba's slice assignment.

Numba's `dst[a:b] = src[c:d]` first tests whether the two arrays share memory (and would copy src aside
if they did) and then runs a generic strided loop; inside a kernel's loop that costs more than the
copy: a quarter of add_s8_same_shape's time, and most of pad_image's. A loop over the elements, indexed
by its counter, is a plain memcpy-like loop that LLVM vectorizes. The callers' arrays never overlap.
"""

from numba import njit


@njit(inline="always", cache=True, nogil=True)
def copy_elements(dst, src):
    """dst[i] = src[i] for i < len(dst); src has at least as many elements and does not overlap dst."""
    for i in range(dst.shape[0]):
        dst[i] = src[i]

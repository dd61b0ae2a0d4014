"""The C side's names: one prefix for every global symbol, and each C twin repeats its Numba kernel's arguments.

A firmware integrator links microflat beside CMSIS-NN or TFLite Micro, so every global symbol of the kernels
and the runtime begins with mf_ (kernels/_dispatch.C_PREFIX); the C twin of a jitted kernel is its Numba name
behind that prefix, and its prototype in microflat_kernels.h names the same arguments in the same order as the
kernel's one explicit signature (kernels/kernel_args.py), so two arguments of one type cannot be swapped on
one side only.
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from microflat import kernels as K
from microflat.kernels._dispatch import C_PREFIX, c_name
from microflat.kernels.kernel_args import parameters

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "kernels").glob("*.c")) + sorted((ROOT / "runtime" / "c").glob("*.c"))
HEADER = (ROOT / "kernels" / "microflat_kernels.h").read_text()


def _prototypes() -> dict:
    """{C function name: [argument names]} of the header's declarations."""
    text = re.sub(r"/\*.*?\*/", "", HEADER, flags=re.S)
    found = {}
    for name, args in re.findall(r"\b(mf_\w+)\(([^;{]*?)\);", text, flags=re.S):
        found[name] = [a.strip().split()[-1].lstrip("*") for a in args.split(",") if a.strip() not in ("", "void")]
    return found


def test_every_global_c_symbol_carries_the_prefix(tmp_path):
    gcc, nm = shutil.which("gcc") or shutil.which("cc"), shutil.which("nm")
    if not gcc or not nm:
        pytest.skip("needs a C compiler and nm (binutils)")
    symbols = []
    for src in SOURCES:
        obj = tmp_path / (src.stem + ".o")
        subprocess.run([gcc, "-std=c99", "-O1", "-c", f"-I{ROOT / 'kernels'}", f"-I{ROOT / 'runtime' / 'c'}", str(src),
                        "-o", str(obj)], check=True)
        out = subprocess.run([nm, "-g", "--defined-only", str(obj)], check=True, capture_output=True, text=True).stdout
        symbols += [(src.name, line.split()[-1]) for line in out.splitlines() if line.strip()]
    assert len(symbols) > 40
    assert [s for s in symbols if not s[1].startswith(C_PREFIX)] == []


# Every exported Numba kernel of an integer width (the LSTMs name their form instead: 8x8_16, 16x8).
KERNELS = sorted((getattr(K, n) for n in dir(K) if n.endswith(("_s8", "_s16", "_8x8_16", "_16x8"))
                  and hasattr(getattr(K, n), "py_func")), key=lambda k: k.__name__)


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: k.__name__)
def test_each_c_twin_names_its_kernels_arguments_in_order(kernel):
    prototypes = _prototypes()
    if c_name(kernel) not in prototypes:
        assert kernel.__name__ == "add_s8_same_shape", f"{kernel.__name__} has no C twin in microflat_kernels.h"
        return  # Numba only: the interpreter's vectorized fast path, compared with add_s8 by the tests
    assert prototypes[c_name(kernel)] == [p.name for p in parameters(kernel)]

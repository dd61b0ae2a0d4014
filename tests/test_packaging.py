"""The distribution's shape: what lands in site-packages, what the runtime needs, how the C builds."""

import email
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
C_SOURCES = sorted((ROOT / "kernels").glob("*.c")) + sorted((ROOT / "runtime" / "c").glob("*.c"))
STRICT_C = ["-std=c99", "-pedantic", "-Wall", "-Wextra", "-Wconversion", "-Wsign-conversion", "-Werror"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(out), str(ROOT)],
        check=True,
    )
    (path,) = out.glob("microflat-*.whl")
    return zipfile.ZipFile(path)


def test_wheel_installs_everything_under_microflat(wheel):
    tops = {name.split("/")[0] for name in wheel.namelist()}
    dist_info = {t for t in tops if t.endswith(".dist-info")}
    assert tops - dist_info == {"microflat"}, f"bare top-level entries: {tops - dist_info}"
    names = set(wheel.namelist())
    for sub in ("compiler", "runtime", "kernels", "testing"):
        assert f"microflat/{sub}/__init__.py" in names
    # microflat.testing (issue 27): check_kernel, the strategies and the int64 references the tests share.
    for module in ("check", "int_reference", "layer_references", "ops_reference", "layer_cases", "op_cases"):
        assert f"microflat/testing/{module}.py" in names
    assert not any(n.startswith("microflat/__init__") for n in names)  # microflat is a namespace package
    # The C twins ship as sources (first-use build, firmware) and as the compiled cffi module.
    for src in C_SOURCES:
        assert f"microflat/{src.parent.relative_to(ROOT)}/{src.name}" in names
    for header in (ROOT / "runtime" / "c").glob("*.h"):
        assert f"microflat/runtime/c/{header.name}" in names
    assert any(n.startswith("microflat/kernels/_native") and n.endswith(".so") for n in names)
    assert "microflat/runtime/schema.fbs" in names


def test_runtime_depends_only_on_numpy_numba_cffi_and_flatbuffers(wheel):
    """flatbuffers (pure Python) reads the .mfb format, as issue 3 requires; torch stays an extra."""
    (meta_name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    meta = email.message_from_bytes(wheel.read(meta_name))
    requires = meta.get_all("Requires-Dist")
    unconditional = {r.split(">")[0].split("=")[0].split("<")[0].strip() for r in requires if "extra ==" not in r}
    assert unconditional == {"numpy", "numba", "cffi", "flatbuffers"}
    assert any(r.startswith("torch==2.13.0") and 'extra == "compiler"' in r for r in requires)
    # microflat.testing needs hypothesis, through its own extra only.
    assert any(r.startswith("hypothesis") and 'extra == "testing"' in r for r in requires)
    entry_points = [n for n in wheel.namelist() if n.endswith("entry_points.txt")]
    assert "microflat = microflat.runtime.cli:main" in wheel.read(entry_points[0]).decode()


def test_runtime_and_kernels_import_without_torch_or_hypothesis():
    code = (
        # any `import torch` or `import hypothesis` now raises ImportError
        "import sys; sys.modules['torch'] = None; sys.modules['hypothesis'] = None\n"
        "import microflat.runtime, microflat.runtime.cli, microflat.kernels, microflat.compiler.writer\n"
        "from microflat.kernels import native; native.load()\n"
        "assert 'microflat.testing' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_nothing_installed_for_the_runtime_imports_microflat_testing():
    """microflat.testing is for users' tests (and ours): the runtime, kernels and compiler never import it, so
    they need no hypothesis, and the references it holds stay independent of the code they check."""
    for folder in ("runtime", "kernels", "compiler"):
        for source in (ROOT / folder).rglob("*.py"):
            text = source.read_text()
            assert "microflat.testing" not in text and "from ..testing" not in text, source


@pytest.mark.parametrize("source", C_SOURCES, ids=lambda p: p.name)
def test_c_sources_compile_clean_under_strict_c99(source, tmp_path):
    subprocess.run(
        ["gcc", *STRICT_C, "-O2", f"-I{ROOT / 'kernels'}", f"-I{ROOT / 'runtime' / 'c'}",
         "-c", str(source), "-o", str(tmp_path / "out.o")],
        check=True,
    )


def test_the_c_schema_header_is_generated_from_schema_fbs():
    """runtime/c/mfb_schema.h is checked in (a firmware build needs no Python); it must equal the generator's."""
    from microflat.runtime import c_schema

    assert (ROOT / "runtime" / "c" / "mfb_schema.h").read_text() == c_schema.header(), \
        "regenerate: python -m microflat.runtime.c_schema > runtime/c/mfb_schema.h"


def test_first_use_build_matches_the_installed_module(tmp_path):
    """With no usable installed module, native.py compiles the C twins into the cache and uses them."""
    code = (
        "import numpy as np\n"
        "from microflat.kernels import native\n"
        "ffi, lib = native._load_or_build_cached()\n"
        "assert 'microflat_native_' in repr(lib), repr(lib)\n"
        "print(lib.multiply_by_quantized_multiplier(5, 2**30, -1), lib.requantize(-1000, 2**31 - 1, 0, 3, -128, 127))\n"
    )
    env = {"MICROFLAT_CACHE": str(tmp_path), "PATH": "/usr/bin:/bin"}
    # Run from the project root: the build must not depend on the working directory.
    result = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env, cwd=ROOT
    )
    # 5 * 0.25 double-rounded is 2 (see test_golden); -1000 * (1 - 2^-31) rounds to -1000, + 3.
    assert result.stdout.split() == ["2", "-128"]
    assert list(tmp_path.glob("_microflat_native_*.so"))

"""The C runtime under AddressSanitizer and UndefinedBehaviorSanitizer, and libFuzzer on its loader.

1. firmware_examples/aarch64-linux's program, built for this host with
   -fsanitize=address,undefined -fno-sanitize-recover=all, runs every zoo
   model bit-exactly, and every damaged file either loads and runs or exits
   2 with one error line: never a sanitizer report.
2. libFuzzer (clang, with both sanitizers) on two targets, seeded with
   valid .mfb files and sharing one corpus: tests/fuzz/fuzz_verify.c, the
   loader alone (mf_arena_bytes and mf_model_load, nothing run: thousands
   of executions a second), then tests/fuzz/fuzz_loader.c, which also runs
   what loads. A bounded run in CI (MICROFLAT_FUZZ_VERIFY_SECONDS and
   MICROFLAT_FUZZ_SECONDS, 30 s each), a long one with `make fuzz` (3000 s
   and 600 s, the corpus kept in MICROFLAT_FUZZ_CORPUS). Each prints its
   executions and executions a second, and fails on any crash, leak,
   timeout or sanitizer report.
"""

import os
import re
from pathlib import Path

import numpy as np
import pytest

from firmware import EXAMPLES, ROOT, as_input_files, assert_report_matches, need, run
from model_builders import conv_pool_fc_softmax
from zoo_files import VARIANTS, compiled_zoo
from microflat.compiler import zoo

SANITIZE = "-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
SANITIZER_MARKS = ("AddressSanitizer", "runtime error", "LeakSanitizer", "UndefinedBehaviorSanitizer")
C_DIRS = [ROOT / "kernels", ROOT / "runtime" / "c"]


@pytest.fixture(scope="module")
def sanitized_program(tmp_path_factory):
    need("make", "gcc")
    out = tmp_path_factory.mktemp("asan")
    result = run(["make", "-s", "-C", str(EXAMPLES / "aarch64-linux"), "CC=gcc", f"OUT={out}",
                  f"CFLAGS=-O1 -g {SANITIZE}", f"LDFLAGS={SANITIZE}"])
    assert result.returncode == 0, result.stdout + result.stderr
    return out / "microflat_run"


def _clean(result):
    text = result.stdout + result.stderr
    assert not any(mark in text for mark in SANITIZER_MARKS), text


@pytest.mark.parametrize("name", sorted(zoo.ZOO) + sorted(VARIANTS))
def test_every_zoo_model_runs_clean_under_asan_and_ubsan(name, sanitized_program, tmp_path):
    data = compiled_zoo()[name]
    (tmp_path / "model.mfb").write_bytes(data)
    result = run([str(sanitized_program), str(tmp_path / "model.mfb"), *as_input_files(data, tmp_path)])
    _clean(result)
    assert_report_matches(result, data)


def _mutant(data: bytes, rng) -> bytes:
    d = bytearray(data)
    for _ in range(int(rng.integers(1, 4))):
        kind = rng.integers(0, 4)
        i = int(rng.integers(0, len(d)))
        if kind == 0:
            d[i] ^= 1 << int(rng.integers(0, 8))
        elif kind == 1:
            d[i] = int(rng.integers(0, 256))
        elif kind == 2 and i + 4 <= len(d):
            d[i // 4 * 4:i // 4 * 4 + 4] = int(rng.choice([0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF])).to_bytes(4, "little")
        else:
            d = d[:i]
    return bytes(d)


def test_damaged_files_load_and_run_or_fail_in_one_line_under_asan_and_ubsan(sanitized_program, tmp_path):
    rng = np.random.default_rng(0)
    valid = [conv_pool_fc_softmax()[0], conv_pool_fc_softmax(encoded=True)[0], compiled_zoo()["ds_cnn/int4"]]
    inputs = []
    for k, v in enumerate(valid):
        (tmp_path / f"in{k}").mkdir()
        inputs.append(as_input_files(v, tmp_path / f"in{k}"))
    outcomes = {0: 0, 2: 0}
    for n in range(150):
        k = n % len(valid)
        path = tmp_path / "mutant.mfb"
        path.write_bytes(_mutant(valid[k], rng))
        result = run([str(sanitized_program), str(path), *inputs[k]])
        _clean(result)
        assert result.returncode in (0, 2), result.stdout + result.stderr
        outcomes[result.returncode] += 1
    print(f"\n150 damaged files under ASan+UBSan: {outcomes[0]} loaded and ran, {outcomes[2]} refused")
    assert outcomes[2] > 0


@pytest.fixture(scope="module")
def fuzz_corpus(tmp_path_factory):
    """The corpus both targets share: MICROFLAT_FUZZ_CORPUS (kept between runs) or a fresh folder, seeded with
    valid files. The loader-only target runs first, so the other starts from what it found."""
    corpus = Path(os.environ.get("MICROFLAT_FUZZ_CORPUS") or tmp_path_factory.mktemp("fuzz") / "corpus")
    corpus.mkdir(parents=True, exist_ok=True)
    seeds = [conv_pool_fc_softmax()[0], conv_pool_fc_softmax(encoded=True)[0]] + [
        compiled_zoo()[name] for name in ("small_cnn", "ds_cnn/int4", "ds_cnn")]
    for i, seed in enumerate(seeds):
        (corpus / f"seed{i}.mfb").write_bytes(seed)
    return corpus


def _libfuzzer(target: str, seconds: int, corpus: Path, tmp_path: Path, what: str):
    """Build tests/fuzz/<target>.c with libFuzzer, ASan and UBSan and run it on the corpus for `seconds`."""
    need("clang")
    fuzzer = tmp_path / target
    sources = [str(p) for d in C_DIRS for p in sorted(d.glob("*.c"))]
    build = run(["clang", "-O1", "-g", "-std=c99", "-fsanitize=fuzzer,address,undefined", "-fno-sanitize-recover=all",
                 *[f"-I{d}" for d in C_DIRS], str(ROOT / "tests" / "fuzz" / f"{target}.c"), *sources, "-o", str(fuzzer)])
    assert build.returncode == 0, build.stderr
    result = run([str(fuzzer), str(corpus), f"-max_total_time={seconds}", "-timeout=10", "-rss_limit_mb=2048",
                  "-max_len=65536", "-print_final_stats=1", f"-artifact_prefix={tmp_path}/"], timeout=seconds + 300)
    done = re.search(r"Done (\d+) runs in (\d+) second", result.stderr)
    rate = re.search(r"stat::average_exec_per_sec:\s+(\d+)", result.stderr)
    crashes = sorted(p.name for p in tmp_path.glob("crash-*")) + sorted(p.name for p in tmp_path.glob("timeout-*"))
    print(f"\nlibFuzzer on {what}: {done.group(1) if done else '?'} executions in {done.group(2) if done else '?'} s "
          f"({rate.group(1) if rate else '?'} a second), {len(crashes)} crashes")
    assert result.returncode == 0 and not crashes, result.stderr[-4000:]


def test_libfuzzer_finds_no_crash_in_the_c_loader_alone(fuzz_corpus, tmp_path):
    """The loader only (parse and verify, nothing run): `make fuzz` gives it most of its time
    (MICROFLAT_FUZZ_VERIFY_SECONDS). It also aborts when mf_arena_bytes answers for a file the loader refuses for
    anything but the plan's overlaps, or the two refuse a file differently."""
    seconds = int(os.environ.get("MICROFLAT_FUZZ_VERIFY_SECONDS", "30"))
    _libfuzzer("fuzz_verify", seconds, fuzz_corpus, tmp_path, "the C loader alone")


def test_libfuzzer_finds_no_crash_in_the_c_loader(fuzz_corpus, tmp_path):
    """The loader, then a run of whatever it accepts (MICROFLAT_FUZZ_SECONDS)."""
    seconds = int(os.environ.get("MICROFLAT_FUZZ_SECONDS", "30"))
    _libfuzzer("fuzz_loader", seconds, fuzz_corpus, tmp_path, "the C loader and a run of what loads")

"""The peer benchmark's smoke pass: one command runs every runtime on KWS and writes the JSON, the tables
and the plot. It asserts what the harness must produce, never a speed."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = ["onnxruntime", "onnx", "ai_edge_litert", "tflite_micro"]


def _missing_peers():
    missing = []
    for module in PEERS:
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    return missing


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    missing = _missing_peers()
    if missing and not os.environ.get("CI"):
        pytest.skip(f"the benchmark extra is not installed ({', '.join(missing)}): pip install -e '.[bench]'")
    out = tmp_path_factory.mktemp("peers")
    done = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "peers.py"), "--smoke", "--out", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def test_smoke_pass_measures_every_runtime_on_kws(smoke):
    results = json.loads((smoke / "peers.json").read_text())
    assert not [r for r, info in results["runtimes"].items() if info.get("missing")]
    row = results["latency"]["KWS"]
    assert set(row) == set(results["runtimes"])  # KWS has a .tflite file: every runtime ran it
    for runtime, figures in row.items():
        assert figures["latency_ms"] > 0 and figures["throughput_per_s"] > 0, runtime
        assert figures["file_bytes"] > 0, runtime
    assert row["microflat Numba"]["file_bytes"] == row["microflat C (-O3)"]["file_bytes"]


def test_smoke_pass_reports_memory_and_cold_start(smoke):
    results = json.loads((smoke / "peers.json").read_text())
    mem = results["memory"]["KWS"]
    assert 0 < mem["overlap_lower_bound_bytes"] <= mem["arena_bytes"]
    assert mem["overlap_lower_bound_bytes"] <= mem["liveness_lower_bound_bytes"]
    assert mem["tflite_micro_arena_bytes"] > 0
    cold = results["cold_start"]["seconds"]
    assert {"microflat Numba, no on-disk cache", "microflat Numba, on-disk cache", "LiteRT XNNPACK"} <= set(cold)
    assert all(v > 0 for v in cold.values())


def test_smoke_pass_writes_the_tables_and_the_plot(smoke):
    text = (smoke / "peers.md").read_text()
    for heading in ("Batch-1 latency", "latency / the peer's", "Batch-64 throughput", "File bytes", "Peak RAM",
                    "Cold start", "Issue 8's targets"):
        assert heading in text
    assert (smoke / "peers.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

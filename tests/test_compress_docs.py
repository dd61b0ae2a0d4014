"""docs/COMPRESS.md's example of the Python API's training function runs as written, so the docs cannot rot."""

import os
import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")

DOC = os.path.join(os.path.dirname(__file__), "..", "docs", "COMPRESS.md")
MARKER = "<!-- tests/test_compress_docs.py runs the next python block -->"


def _example() -> str:
    with open(DOC, encoding="utf-8") as f:
        text = f.read()
    found = re.search(re.escape(MARKER) + r"\s*```python\n(.*?)```", text, re.S)
    assert found, f"no python block after {MARKER!r} in docs/COMPRESS.md"
    return found.group(1)


def test_training_function_example_runs(tmp_path, monkeypatch, capsys):
    code = _example()
    assert "def train(model, loss_fn, on_step, on_epoch, epochs, lr)" in code and "steps_per_epoch" in code
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        namespace = {"__name__": "compress_docs_example"}
        exec(compile(code, "docs/COMPRESS.md", "exec"), namespace)
    finally:
        torch.set_num_threads(threads)
    rows, mfb = namespace["rows"], namespace["mfb"]
    assert [r.step for r in rows] == ["baseline", "1:prune", "2:cluster", "3:qat"]
    assert rows[1].nonzero < 0.4 * rows[0].nonzero          # the schedule ran: on_step was called
    assert rows[2].max_distinct <= 16
    assert rows[-1].file_bytes < rows[0].file_bytes and len(mfb) == rows[-1].file_bytes
    assert (tmp_path / "digits.mfb").read_bytes() == mfb
    assert rows[-1].int8_accuracy > 0.6
    out = capsys.readouterr().out
    assert "| 3:qat |" in out and "int8 top-1:" in out
    assert np.isclose(float(out.split("int8 top-1:")[1].split()[0]), rows[-1].int8_accuracy)

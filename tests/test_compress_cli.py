"""`microflat compress`: a TOML recipe on a zoo model end to end, its report, and bad input."""

import json
import os

import numpy as np
import pytest

pytest.importorskip("torch")

from microflat.compiler.compress import recipe  # noqa: E402
from microflat.runtime import Interpreter  # noqa: E402
from microflat.runtime.cli import main  # noqa: E402
from microflat.runtime.errors import CompileError  # noqa: E402

RECIPE = """
distill = true
[[step]]
kind = "prune"
sparsity = 0.5
epochs = 1
[[step]]
kind = "cluster"
clusters = 8
epochs = 1
[[step]]
kind = "qat"
epochs = 1
"""


def test_compress_small_cnn_writes_model_table_plot_and_json(tmp_path, capsys):
    path = tmp_path / "r.toml"
    path.write_text(RECIPE)
    out, plot, js = tmp_path / "m.mfb", tmp_path / "p.png", tmp_path / "r.json"
    rc = main(["compress", "zoo:small_cnn", "--recipe", str(path), "-o", str(out), "--plot", str(plot),
               "--json", str(js)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "| baseline |" in text and "| 3:qat |" in text
    rows = json.loads(js.read_text())
    assert [r["step"] for r in rows] == ["baseline", "1:prune", "2:cluster", "3:qat"]
    assert rows[1]["nonzero"] < 0.6 * rows[0]["nonzero"]
    assert rows[2]["max_distinct"] <= 8
    # 8 values (3 bits) at 50% sparsity: a 3-bit palette holds the weights in 3/8 of the int8 bytes (+ biases)
    assert rows[2]["weight_bytes"] < 0.5 * rows[0]["weight_bytes"]
    assert rows[2]["file_bytes"] < rows[2]["dense_file_bytes"] and rows[0]["file_bytes"] == rows[0]["dense_file_bytes"]
    assert all(r["int8_accuracy"] > 0.5 for r in rows)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    m = Interpreter(out.read_bytes())
    assert len(m.model.operators) > 0 and os.path.getsize(out) == rows[-1]["file_bytes"]


@pytest.mark.parametrize("text, message", [
    ('[[step]]\nkind = "shrink"\n', "kind must be one of"),
    ('[[step]]\nkind = "prune"\nspars = 0.5\n', "unknown field"),
    ('distil = true\n', "unknown field"),
    ('[[step\n', "not valid TOML"),
])
def test_bad_recipes_are_one_line_errors(tmp_path, capsys, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert main(["compress", "zoo:small_cnn", "--recipe", str(path), "-o", str(tmp_path / "x.mfb")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "x.mfb").exists()


def test_models_without_a_dataset_or_outside_the_zoo_are_refused(tmp_path, capsys):
    assert main(["compress", "zoo:resnet8", "-o", str(tmp_path / "x.mfb")]) == 2
    assert "no bundled dataset" in capsys.readouterr().err
    assert main(["compress", "model.pt2", "-o", str(tmp_path / "x.mfb")]) == 2
    assert "needs --data" in capsys.readouterr().err


def test_builtin_recipes_parse_and_missing_file_is_an_error(tmp_path):
    assert {"deep_compression", "channels_half", "lowrank_half"} <= set(recipe.BUILTIN)
    with pytest.raises(CompileError, match="no such file"):
        recipe.load(tmp_path / "none.toml")
    r = recipe.from_dict({"step": [{"kind": "prune", "n_m": [2, 4], "epochs": 0}]})
    assert r.steps[0].n_m == (2, 4) and np.isclose(r.alpha, 0.7)

"""The one ONNX Runtime session builder: providers chosen in one place, refused by name when missing."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from voirie.onnx import CPU, PROVIDERS_ENV, execution_providers, onnx_session


def _doubling_model() -> bytes:
    graph = helper.make_graph([helper.make_node("Add", ["x", "x"], ["y"])], "double",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


@pytest.mark.parametrize(("requested", "expected", "error"), [
    ("", [CPU], None),
    (CPU, [CPU], None),
    (f" {CPU} , ", [CPU], None),
    ("NoSuchExecutionProvider", None, "NoSuchExecutionProvider not available; this install has"),
])
def test_execution_providers(requested: str, expected: list[str] | None, error: str | None) -> None:
    if error:
        with pytest.raises(ValueError, match=error):
            execution_providers(requested)
    else:
        assert execution_providers(requested) == expected


def test_the_environment_picks_the_providers_for_every_session(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PROVIDERS_ENV, "NoSuchExecutionProvider")
    with pytest.raises(ValueError, match=CPU):  # the message lists what this install has
        onnx_session(_doubling_model(), 1)
    monkeypatch.delenv(PROVIDERS_ENV)
    session = onnx_session(_doubling_model(), 1)
    assert session.get_providers() == [CPU] and CPU in ort.get_available_providers()
    assert session.run(None, {"x": np.array([1.5, -2.0], np.float32)})[0].tolist() == [3.0, -4.0]
    onnx.checker.check_model(onnx.load_from_string(_doubling_model()))

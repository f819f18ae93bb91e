"""A pretrained ONNX network's feature layers as a trainable torch module (``train`` extra).

No weights can be downloaded here, but pretrained networks ship as ONNX files (the
COCO-pretrained YOLOX-Nano among them). This reads the part of such a graph between its
input and a few named feature tensors and runs it node by node in torch, with every
convolution a real ``nn.Conv2d`` holding the file's weights, so the network can be
fine-tuned and exported again. Only the operators of convolutional backbones are
understood (Conv, Sigmoid, Mul, Add, Concat, Slice, MaxPool, Relu); anything else is
refused by name. onnx2torch does the same for whole graphs but needs torchvision, which
the CPU torch build used here cannot import.
"""

from __future__ import annotations

from pathlib import Path

import onnx
import torch
from onnx import numpy_helper
from onnx.utils import Extractor
from torch import nn
from torch.nn import functional as F

SUPPORTED = frozenset({"Conv", "Sigmoid", "Mul", "Add", "Concat", "Slice", "MaxPool", "Relu", "Constant"})

# YOLOX-Nano (COCO, Apache-2.0): the outputs of its stem and of its four CSP stages
# (strides 2, 4, 8, 16, 32; 16, 32, 64, 128, 256 channels), found by shape inference.
YOLOX_NANO_TAPS = ("687", "721", "781", "841", "886")
YOLOX_NANO_WIDTHS = (16, 32, 64, 128, 256)


def extract_backbone(path: Path, taps: tuple[str, ...] | None = None) -> bytes:
    """The part of the ONNX file at ``path`` between its input and ``taps``, serialized
    (kept in training checkpoints, so a checkpoint rebuilds without the original file).
    Without ``taps``: YOLOX-Nano's stages when the file is YOLOX-Nano, else the file's outputs
    (a backbone exported on its own: five maps at strides 2 to 32)."""
    model = onnx.load(str(path))
    if taps is None:
        produced = {name for node in model.graph.node for name in node.output}
        taps = YOLOX_NANO_TAPS if set(YOLOX_NANO_TAPS) <= produced else tuple(o.name for o in model.graph.output)
    return Extractor(model).extract_model([model.graph.input[0].name], list(taps)).SerializeToString()


def _attributes(node: onnx.NodeProto) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


class OnnxBackbone(nn.Module):
    """Feature maps at ``taps`` of an ONNX graph, for RGB 0..1 input (converted to what the
    file expects: ``bgr_255`` for YOLOX, which trained on BGR 0..255)."""

    def __init__(self, graph: onnx.GraphProto, taps: tuple[str, ...], bgr_255: bool = True) -> None:
        super().__init__()
        unknown = sorted({n.op_type for n in graph.node} - SUPPORTED)
        if unknown:
            raise ValueError(f"operators {unknown} between the input and {list(taps)} are not supported")
        self.input_name, self.taps, self.bgr_255 = graph.input[0].name, tuple(taps), bgr_255
        constants = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
        constants.update({n.output[0]: numpy_helper.to_array(n.attribute[0].t) for n in graph.node if n.op_type == "Constant"})
        self.convs = nn.ModuleDict()
        self.nodes = [(n.op_type, list(n.input), n.output[0], _attributes(n)) for n in graph.node if n.op_type != "Constant"]
        self.slices: dict[str, tuple] = {}
        for op, inputs, output, attrs in self.nodes:
            if op == "Conv":
                self.convs[self._key(output)] = self._conv(constants, inputs, attrs)
            elif op == "Slice":
                self.slices[output] = self._slice_arguments(constants, inputs)

    @staticmethod
    def _slice_arguments(constants: dict, inputs: list[str]) -> tuple:
        """starts, ends, axes, steps of a Slice (axes and steps optional, as ONNX allows)."""
        given = [constants[name].tolist() if name else None for name in inputs[1:]]
        starts, ends = given[0], given[1]
        axes = given[2] if len(given) > 2 and given[2] is not None else list(range(len(starts)))
        steps = given[3] if len(given) > 3 and given[3] is not None else [1] * len(starts)
        return starts, ends, axes, steps

    @staticmethod
    def _key(name: str) -> str:
        return f"t{name}".replace(".", "_")

    @staticmethod
    def _conv(constants: dict, inputs: list[str], attrs: dict) -> nn.Conv2d:
        weight = torch.from_numpy(constants[inputs[1]].copy())
        pads = attrs.get("pads", [0, 0, 0, 0])
        if pads[:2] != pads[2:]:
            raise ValueError(f"asymmetric convolution padding {pads} is not supported")
        conv = nn.Conv2d(weight.shape[1] * attrs.get("group", 1), weight.shape[0], tuple(weight.shape[2:]),
                         stride=tuple(attrs.get("strides", [1, 1])), padding=tuple(pads[:2]),
                         dilation=tuple(attrs.get("dilations", [1, 1])), groups=attrs.get("group", 1),
                         bias=len(inputs) > 2)
        conv.weight.data.copy_(weight)
        if len(inputs) > 2:
            conv.bias.data.copy_(torch.from_numpy(constants[inputs[2]].copy()))
        return conv

    def _apply(self, op: str, args: list[torch.Tensor], output: str, attrs: dict) -> torch.Tensor:
        if op == "Conv":
            return self.convs[self._key(output)](args[0])
        if op == "Sigmoid":
            return torch.sigmoid(args[0])
        if op == "Relu":
            return torch.relu(args[0])
        if op == "Mul":
            return args[0] * args[1]
        if op == "Add":
            return args[0] + args[1]
        if op == "Concat":
            return torch.cat(args, attrs["axis"])
        if op == "MaxPool":
            return F.max_pool2d(args[0], attrs["kernel_shape"], attrs.get("strides", 1), attrs.get("pads", [0, 0])[:2])
        starts, ends, axes, steps = self.slices[output]
        index = [slice(None)] * args[0].dim()
        for start, end, axis, step in zip(starts, ends, axes, steps):
            index[axis] = slice(start, min(end, 2 ** 31) if end >= 0 else end, step)
        return args[0][tuple(index)]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        values = {self.input_name: x.flip(1) * 255.0 if self.bgr_255 else x}
        for op, inputs, output, attrs in self.nodes:
            values[output] = self._apply(op, [values[name] for name in inputs if name in values], output, attrs)
        return [values[name] for name in self.taps]

"""The damage segmentation network (torch; ``train`` extra only, never on the edge box).

A small U-Net: five stride-2 stages (16-96 channels, dilated convolutions at 1/32 for
context along long cracks) and a decoder back to 1/2 of the input, where it gives one
probability map per class (sigmoid inside the graph, so the ONNX file outputs
probabilities). Plain 3×3 convolutions with batch norm: they fuse on export and run well
in ONNX Runtime's CPU kernels, and train at a usable speed on a 2-core CPU.

The encoder is either trained from scratch or a pretrained network's feature layers
(``backbone``: a serialized ONNX graph, e.g. YOLOX-Nano's COCO-pretrained stem and CSP
stages, see :mod:`voirie.lab.train.onnx_backbone`), whose maps are narrowed by 1×1
convolutions to the decoder's widths so the decoder costs the same either way.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

WIDTHS = (16, 32, 48, 64, 96)  # output: 1/2 of the input (segment_data.OUTPUT_STRIDE)


def _conv(inputs: int, outputs: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inputs, outputs, 3, stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(outputs),
        nn.ReLU(inplace=True),
    )


class DamageSegNet(nn.Module):
    """Input N×3×H×W RGB in 0..1 (H, W multiples of 32); output N×C×H/2×W/2 probabilities."""

    def __init__(self, classes: int = 2, widths: tuple[int, ...] = WIDTHS, backbone: bytes | None = None) -> None:
        super().__init__()
        w = widths
        self.backbone = self.lateral = None
        self.backbone_graph = backbone  # kept in checkpoints: the encoder's structure, rebuilt without the file
        if backbone is not None:
            self.backbone, self.lateral = _pretrained_encoder(backbone, w)
        self.down = None if backbone is not None else nn.ModuleList([
            nn.Sequential(_conv(3, w[0], 2), _conv(w[0], w[0])),
            nn.Sequential(_conv(w[0], w[1], 2), _conv(w[1], w[1])),
            nn.Sequential(_conv(w[1], w[2], 2), _conv(w[2], w[2])),
            nn.Sequential(_conv(w[2], w[3], 2), _conv(w[3], w[3])),
            nn.Sequential(_conv(w[3], w[4], 2), _conv(w[4], w[4], dilation=2), _conv(w[4], w[4], dilation=4)),
        ])
        self.up = nn.ModuleList([_conv(w[i + 1] + w[i], w[i]) for i in reversed(range(len(w) - 1))])
        self.head = nn.Conv2d(w[0], classes, 1)

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps at strides 2, 4, 8, 16 and 32, narrowed to the decoder's widths."""
        if self.backbone is not None:
            return [narrow(f) for narrow, f in zip(self.lateral, self.backbone(x))]
        skips = []
        for stage in self.down:
            x = stage(x)
            skips.append(x)
        return skips

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = self.encode(x)
        x = skips.pop()
        for block in self.up:
            skip = skips.pop()
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat((x, skip), 1))
        return torch.sigmoid(self.head(x))


def _pretrained_encoder(serialized: bytes, widths: tuple[int, ...]) -> tuple[nn.Module, nn.ModuleList]:
    """A pretrained ONNX encoder and the 1×1 convolutions that narrow its maps to ``widths``."""
    import onnx

    from voirie.lab.train.onnx_backbone import OnnxBackbone

    graph = onnx.load_from_string(serialized).graph
    encoder = OnnxBackbone(graph, tuple(o.name for o in graph.output))
    probe = encoder(torch.zeros(1, 3, 64, 64))
    channels = [f.shape[1] for f in probe]
    if len(channels) != len(widths):
        raise ValueError(f"the backbone gives {len(channels)} feature maps, the decoder needs {len(widths)}")
    lateral = nn.ModuleList([_conv1x1(c, w) for c, w in zip(channels, widths)])
    return encoder, lateral


def _conv1x1(inputs: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inputs, outputs, 1, bias=False), nn.BatchNorm2d(outputs), nn.ReLU(inplace=True))

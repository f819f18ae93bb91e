"""The damage segmentation network (torch; ``train`` extra only, never on the edge box).

A small U-Net: five stride-2 stages (16-96 channels, dilated convolutions at 1/32 for
context along long cracks) and a decoder back to 1/2 of the input, where it gives one
probability map per class (sigmoid inside the graph, so the ONNX file outputs
probabilities). Plain 3×3 convolutions with batch norm: they fuse on export and run well
in ONNX Runtime's CPU kernels, and train at a usable speed on a 2-core CPU.
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

    def __init__(self, classes: int = 2, widths: tuple[int, ...] = WIDTHS) -> None:
        super().__init__()
        w = widths
        self.down = nn.ModuleList([
            nn.Sequential(_conv(3, w[0], 2), _conv(w[0], w[0])),
            nn.Sequential(_conv(w[0], w[1], 2), _conv(w[1], w[1])),
            nn.Sequential(_conv(w[1], w[2], 2), _conv(w[2], w[2])),
            nn.Sequential(_conv(w[2], w[3], 2), _conv(w[3], w[3])),
            nn.Sequential(_conv(w[3], w[4], 2), _conv(w[4], w[4], dilation=2), _conv(w[4], w[4], dilation=4)),
        ])
        self.up = nn.ModuleList([_conv(w[i + 1] + w[i], w[i]) for i in reversed(range(len(w) - 1))])
        self.head = nn.Conv2d(w[0], classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for stage in self.down:
            x = stage(x)
            skips.append(x)
        x = skips.pop()
        for block in self.up:
            skip = skips.pop()
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat((x, skip), 1))
        return torch.sigmoid(self.head(x))

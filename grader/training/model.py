"""The CRNN: a compact VGG-style CNN over 32-px lines, a 2-layer BiLSTM, a linear layer to
charset + CTC blank (Shi, Bai & Yao 2015, "An End-to-End Trainable Neural Network for
Image-based Sequence Recognition"). Height goes 32 -> 1, width 4x down: one frame per 4 px.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from grader.lines import FRAMES_PER_PIXEL, HEIGHT


@dataclass
class ModelConfig:
    num_classes: int  # charset size + 1 (blank at index 0)
    height: int = HEIGHT  # the CNN below reduces exactly 32 rows to 1
    channels: tuple[int, ...] = (32, 64, 96, 96, 160, 160)
    rnn_hidden: int = 144
    rnn_layers: int = 2
    dropout: float = 0.1

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d


def _conv(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class CRNN(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        c = cfg.channels
        self.cfg = cfg
        self.cnn = nn.Sequential(
            *_conv(1, c[0]), nn.MaxPool2d(2, 2),  # 16 x W/2
            *_conv(c[0], c[1]), nn.MaxPool2d(2, 2),  # 8 x W/4
            *_conv(c[1], c[2]), *_conv(c[2], c[3]), nn.MaxPool2d((2, 1), (2, 1)),  # 4 x W/4
            *_conv(c[3], c[4]), *_conv(c[4], c[5]), nn.MaxPool2d((2, 1), (2, 1)),  # 2 x W/4
            nn.Conv2d(c[5], 256, (2, 1), bias=False), nn.BatchNorm2d(256), nn.ReLU(inplace=True),  # 1 x W/4
        )
        self.rnn = nn.LSTM(256, cfg.rnn_hidden, num_layers=cfg.rnn_layers, bidirectional=True,
                           batch_first=True, dropout=cfg.dropout if cfg.rnn_layers > 1 else 0.0)
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(2 * cfg.rnn_hidden, cfg.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 1, 32, W) in 0..1, ink bright -> logits (B, T=W/4, classes)."""
        f = self.cnn(x).squeeze(2).transpose(1, 2)  # (B, T, 256)
        f, _ = self.rnn(f)
        return self.head(self.drop(f))


def frames_for_width(width: int) -> int:
    """Output frames for an input `width` px wide: the two 2x2 poolings halve the width twice
    (grader.lines.FRAMES_PER_PIXEL, recorded in model.json's input.frames_per_pixel)."""
    return int(width * FRAMES_PER_PIXEL)

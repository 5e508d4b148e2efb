"""The CRNN rebuilt for export so that its int8 reading of a crop does not depend on the batch.

The int8 file runs the BiLSTM as onnxruntime's DynamicQuantizeLSTM: before each matrix product
it quantizes the product's input (the layer's input sequence, then the hidden state at every
step) to uint8 with a scale taken from that tensor's minimum and maximum over the whole batch.
A crop read beside a crop with larger values was therefore quantized more coarsely than when
read alone, and a borderline crop could read differently (8 of 656 real held-back crops,
bench notes of crnn-9).

This module pins both ranges so every batch has the same scale:

- the first layer's input gets two constant features, 0 and the largest value the static int8
  convolution before it can produce (its ReLU output lies in [0, that value]);
- every layer and direction gets two extra hidden units held at +1 and -1 (input and output
  gates shut and open by their biases, the cell held at +/-16 from the start, so the unit outputs
  tanh(16), 1 in float32); no real hidden unit can lie outside [-1, 1].

Every weight that reads a pinned feature or unit is zero, and the pinned units are dropped
before the linear head, so the float network computes exactly what the CRNN computes (up to
float rounding, see tests/test_fixed_range.py) and the pins only decide the quantizer's range.
"""

from __future__ import annotations

import torch
from torch import nn

from grader.training.model import CRNN

PINNED_UNITS = 2  # +1 and -1
PIN_GATE = 30.0  # sigmoid(+30) is 1 and sigmoid(-30) 0 in float32
PIN_CELL = 16.0  # tanh(16) is 1 in float32


def _gate_rows(hidden: int, new_hidden: int) -> torch.Tensor:
    """Row of the new weight for each row of the old one (four gate blocks, i f g o)."""
    return torch.cat([g * new_hidden + torch.arange(hidden) for g in range(4)])


class FixedRangeCRNN(nn.Module):
    """`model` with pinned BiLSTM ranges; `feature_max` is the largest value the int8 network can
    feed the first BiLSTM layer (the static quantizer's maximum of the last convolution)."""

    feature_pins: torch.Tensor
    h0: torch.Tensor
    c0: torch.Tensor
    keep: torch.Tensor

    def __init__(self, model: CRNN, feature_max: float):
        super().__init__()
        cfg = model.cfg
        hidden, new_hidden = cfg.rnn_hidden, cfg.rnn_hidden + PINNED_UNITS
        self.cfg = cfg
        self.cnn = model.cnn
        self.head = model.head
        features = model.rnn.input_size
        self.register_buffer("feature_pins", torch.tensor([0.0, float(feature_max)]).view(1, 1, 2))
        rows = _gate_rows(hidden, new_hidden)
        self.layers = nn.ModuleList()
        for layer in range(cfg.rnn_layers):
            if layer == 0:
                in_cols, new_in = torch.arange(features), features + 2
            else:  # the previous layer's output: forward units then backward units, each with pins
                in_cols = torch.cat([torch.arange(hidden), new_hidden + torch.arange(hidden)])
                new_in = 2 * new_hidden
            lstm = nn.LSTM(new_in, new_hidden, bidirectional=True, batch_first=True)
            with torch.no_grad():
                for suffix in ("", "_reverse"):
                    src = f"l{layer}{suffix}"
                    dst = f"l0{suffix}"
                    w_ih = torch.zeros(4 * new_hidden, new_in)
                    w_ih[rows.unsqueeze(1), in_cols.unsqueeze(0)] = getattr(model.rnn, f"weight_ih_{src}")
                    w_hh = torch.zeros(4 * new_hidden, new_hidden)
                    w_hh[rows.unsqueeze(1), torch.arange(hidden).unsqueeze(0)] = getattr(model.rnn, f"weight_hh_{src}")
                    b_ih = torch.zeros(4 * new_hidden)
                    b_ih[rows] = getattr(model.rnn, f"bias_ih_{src}")
                    b_hh = torch.zeros(4 * new_hidden)
                    b_hh[rows] = getattr(model.rnn, f"bias_hh_{src}")
                    for unit in (hidden, hidden + 1):  # gates i f g o: input shut, forget open, output open
                        b_ih[unit] = -PIN_GATE
                        b_ih[new_hidden + unit] = PIN_GATE
                        b_ih[3 * new_hidden + unit] = PIN_GATE
                    getattr(lstm, f"weight_ih_{dst}").copy_(w_ih)
                    getattr(lstm, f"weight_hh_{dst}").copy_(w_hh)
                    getattr(lstm, f"bias_ih_{dst}").copy_(b_ih)
                    getattr(lstm, f"bias_hh_{dst}").copy_(b_hh)
            self.layers.append(lstm)
        h0 = torch.zeros(2, 1, new_hidden)
        h0[:, :, hidden], h0[:, :, hidden + 1] = 1.0, -1.0
        self.register_buffer("h0", h0)
        self.register_buffer("c0", h0 * PIN_CELL)
        self.register_buffer("keep", torch.cat([torch.arange(hidden), new_hidden + torch.arange(hidden)]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """As CRNN.forward: x (B, 1, 32, W) -> logits (B, W/4, classes)."""
        f = self.cnn(x).squeeze(2).transpose(1, 2)  # (B, T, features)
        batch, frames = f.shape[0], f.shape[1]
        f = torch.cat([f, self.feature_pins.expand(batch, frames, 2)], 2)
        for lstm in self.layers:
            state = (self.h0.expand(-1, batch, -1).contiguous(), self.c0.expand(-1, batch, -1).contiguous())
            f, _ = lstm(f, state)
        return self.head(f.index_select(2, self.keep))

"""Small models with the input forms of issue 20, shared by the tests that
hold every command to every input form: two positional inputs, and token
ids with an optional keyword mask."""

from __future__ import annotations

from torch import nn


class TwoInputs(nn.Module):
    """forward(x, y): an image (N, 3, H, W) and a vector (N, 8)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.fc = nn.Linear(8, 4)

    def forward(self, x, y):
        return self.fc(self.conv(x).mean((2, 3)) + y)


class Tokens(nn.Module):
    """forward(input_ids, attention_mask=None): int64 ids below 100 into an embedding."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(100, 16)
        self.fc = nn.Linear(16, 2)

    def forward(self, input_ids, attention_mask=None):
        h = self.emb(input_ids)
        if attention_mask is not None:
            h = h * attention_mask.unsqueeze(-1)
        return self.fc(h.mean(1))


def build_two_inputs() -> nn.Module:
    return TwoInputs()


instance = TwoInputs()  # a module-level instance: a spec may name it ("example_models.py:instance")

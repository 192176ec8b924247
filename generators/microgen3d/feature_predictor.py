"""The MicroGen3D feature predictor (FP): flattened latent -> descriptors and recipe."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _row_normalize(h: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Normalise each sample over its features (biased variance), like InstanceNorm1d on 2-D input."""
    mean = h.mean(dim=-1, keepdim=True)
    var = h.var(dim=-1, unbiased=False, keepdim=True)
    return (h - mean) / torch.sqrt(var + eps)


class FeaturePredictor(nn.Module):
    """Three-layer MLP ``fc1 (in -> in/2) -> fc2 (-> in/4) -> fc3 (-> out)``.

    After ``fc1`` and ``fc2``: ReLU, per-sample normalisation over the hidden features
    (eps 1e-5, no affine) and Dropout. Outputs are raw (not normalised) descriptor values.

    Parameters
    ----------
    in_features : int
        Size of the flattened latent (C order of ``(C, D, H, W)``), e.g. 512 or 1024.
    out_features : int
        Number of predicted attributes.
    dropout : float
        Dropout probability (active only in training mode).
    """

    def __init__(self, in_features: int, out_features: int, dropout: float = 0.1) -> None:
        super().__init__()
        if in_features < 4 or out_features < 1:
            raise ValueError(
                f"need in_features >= 4 and out_features >= 1, got {in_features}, {out_features}"
            )
        h1 = in_features // 2
        h2 = h1 // 2
        self.in_features, self.out_features = in_features, out_features
        self.fc1 = nn.Linear(in_features, h1)
        self.fc2 = nn.Linear(h1, h2)
        self.fc3 = nn.Linear(h2, out_features)
        self.drop1 = nn.Dropout(dropout)
        self.drop2 = nn.Dropout(dropout)

    def forward(self, z_flat: torch.Tensor) -> torch.Tensor:
        """Map ``(B, in_features)`` flattened latents to ``(B, out_features)`` predictions."""
        if z_flat.ndim != 2 or z_flat.shape[1] != self.in_features:
            raise ValueError(
                f"FeaturePredictor expects (B, {self.in_features}) inputs, got {tuple(z_flat.shape)}"
            )
        h = self.drop1(_row_normalize(F.relu(self.fc1(z_flat))))
        h = self.drop2(_row_normalize(F.relu(self.fc2(h))))
        return self.fc3(h)

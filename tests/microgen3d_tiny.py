"""Shared by the MicroGen3D tests: a tiny pack configuration (32^3 volumes, 4-8 channels)."""

from __future__ import annotations

from generators.microgen3d import PackConfig


def tiny_pack(T: int) -> PackConfig:
    """A 32^3, two-condition, three-output pack with ``T`` diffusion steps (fast on CPU)."""
    return PackConfig(
        name="tiny",
        in_shape=(1, 32, 32, 32),
        latent_ch=2,
        first_stride=1,
        fp_names=("a", "b", "c"),
        condition_names=("a", "b"),
        channels=(4, 4, 8, 8),
        n_feat=16,
        T=T,
    )

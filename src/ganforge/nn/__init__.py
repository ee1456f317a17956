"""Reusable layers that know nothing about any paper's training procedure."""

from ganforge.nn.layers import ConditionalBatchNorm2d, Norm2d, apply_spectral_norm

__all__ = ["ConditionalBatchNorm2d", "Norm2d", "apply_spectral_norm"]

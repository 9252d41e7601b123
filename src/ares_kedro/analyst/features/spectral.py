"""Spectral features: rolling Fourier band power and wavelet decomposition energies."""

from __future__ import annotations

"""Embedding stage: turn chunk texts and queries into unit vectors.

Only `st_backend` (and the ONNX backend) import a model library; everything
else talks to the `Encoder` protocol.
"""

from codequarry.embed.encoder import Encoder, HashingEncoder, load_encoder
from codequarry.embed.presets import PRESETS, Preset, resolve_model

__all__ = ["Encoder", "HashingEncoder", "load_encoder", "PRESETS", "Preset", "resolve_model"]

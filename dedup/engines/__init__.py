"""Engines that run the cleaner somewhere other than this process.

The local engine is :class:`dedup.cleaner.Cleaner` itself. :mod:`dedup.engines.ray`
runs the within-document stages on a Ray cluster and gives the local
engine's output byte for byte. Engines are optional: each imports its
framework lazily and says how to install it when it is missing.
"""

from __future__ import annotations

ENGINES = ("local", "ray")

__all__ = ["ENGINES"]

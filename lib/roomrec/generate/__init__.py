"""Deterministic generator of raw behavioural logs of a virtual world with chat rooms.

See :func:`generate` for what is written and :func:`ensure_generated` for the cached
data sets that tests and notebooks use. ``roomrec generate`` runs :func:`main`.
"""

from __future__ import annotations

from roomrec.generate.cache import default_root, ensure_generated
from roomrec.generate.command import main
from roomrec.generate.core import DEFAULT_START_DATE, GENERATOR_VERSION, generate
from roomrec.generate.dirty import DIRTY_KIND_NAMES
from roomrec.generate.sizes import SIZES, GeneratorSize

__all__ = [
    "DEFAULT_START_DATE",
    "DIRTY_KIND_NAMES",
    "GENERATOR_VERSION",
    "SIZES",
    "GeneratorSize",
    "default_root",
    "ensure_generated",
    "generate",
    "main",
]

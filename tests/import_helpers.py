"""What the importer tests share."""

from __future__ import annotations

import math


def same(a, b) -> bool:
    """Equal, with NaN equal to NaN (a diverged metric must come back as NaN, not vanish)."""
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))

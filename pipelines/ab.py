"""The A/B split: which model alias serves a user, by a stable hash of the user id.

Stable across replicas, restarts and Python processes (no `hash()` randomisation), and independent of the user id's
own structure (ids are sequential: `id % 10` would tie the split to sign-up order).
"""

from __future__ import annotations

import hashlib
from typing import Literal

Variant = Literal["champion", "challenger"]
SALT = b"movierec-ab-v1"  # change it to re-draw every user's arm


def bucket(user_id: int) -> float:
    """A uniform number in [0, 1) fixed for the user id."""
    digest = hashlib.blake2b(str(user_id).encode(), digest_size=8, key=SALT).digest()
    return int.from_bytes(digest, "big") / 2**64


def variant_for(
    user_id: int | None, challenger_fraction: float, challenger_available: bool = True
) -> Variant:
    """`challenger` for a stable `challenger_fraction` of user ids (anonymous visitors: always `champion`)."""
    if user_id is None or not challenger_available or challenger_fraction <= 0:
        return "champion"
    return "challenger" if bucket(user_id) < challenger_fraction else "champion"

"""Generated identifiers and secrets (shared/crypto.py)."""
from __future__ import annotations

import time

from shared import crypto


def test_uuid7_is_version_7_with_the_current_millisecond_first():
    before = time.time_ns() // 1_000_000
    value = crypto.new_uuid7()
    after = time.time_ns() // 1_000_000
    assert value.version == 7
    assert value.variant == "specified in RFC 4122"
    assert before <= int(value.hex[:12], 16) <= after


def test_uuid7s_made_later_sort_later_and_never_repeat():
    first = crypto.new_uuid7()
    time.sleep(0.002)
    batch = [crypto.new_uuid7() for _ in range(10_000)]
    assert all(first < later for later in batch)
    assert len(set(batch)) == len(batch)


def test_secrets_carry_256_bits_and_ids_128():
    assert len(crypto.new_secret()) == 43    # 32 bytes, base64url without padding
    assert len(crypto.new_id()) == 22        # 16 bytes
    assert crypto.new_secret() != crypto.new_secret()

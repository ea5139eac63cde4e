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


def test_ordered_ids_start_with_the_current_millisecond_and_never_repeat():
    import base64
    before = time.time_ns() // 1_000_000
    batch = [crypto.new_ordered_id() for _ in range(10_000)]
    after = time.time_ns() // 1_000_000
    assert all(len(value) == 22 and value.replace("-", "").replace("_", "").isalnum() for value in batch)
    stamps = [int.from_bytes(base64.urlsafe_b64decode(value + "=="), "big") >> 80 for value in batch]
    assert all(before <= stamp <= after for stamp in stamps)
    assert stamps == sorted(stamps)
    assert len(set(batch)) == len(batch)


def test_random_bytes_never_repeat_across_pages():
    chunks = [crypto.random_bytes(16) for _ in range(1000)]   # about four pages of the pool
    assert len(set(chunks)) == len(chunks)
    assert all(len(c) == 16 for c in chunks)
    assert len(crypto.random_bytes(5000)) == 5000              # larger than a page: straight from the OS


def test_a_forked_child_draws_other_bytes_than_its_parent():
    import os
    crypto.random_bytes(1)   # the parent has a partly used page
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write, crypto.random_bytes(32))
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 32)
    assert child != crypto.random_bytes(32)


def test_client_ids_are_alphanumeric_and_use_the_whole_alphabet():
    ids = [crypto.new_client_id() for _ in range(2000)]
    assert all(len(i) == 22 and i.isalnum() and i.isascii() for i in ids)
    assert set("".join(ids)) == set(crypto._ALPHANUMERIC)

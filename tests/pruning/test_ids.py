"""Prune ids: HMAC-SHA256 of the cache key, 128 bits in lower-case base32, stable across processes."""

from __future__ import annotations

import re
import subprocess
import sys

from sidecar.pruning.ids import PROCESS_SECRET, make_prune_id


def test_prune_id_is_hmac_base32_128_bits():
    pid = make_prune_id(b"k" * 32, b"s" * 32)
    assert re.fullmatch(r"[a-z2-7]{26}", pid)
    assert pid == make_prune_id(b"k" * 32, b"s" * 32)
    assert pid != make_prune_id(b"k" * 32, b"t" * 32)
    assert pid != make_prune_id(b"j" * 32, b"s" * 32)


def test_the_id_of_a_known_key_never_changes():
    # Replicas of different versions share ids through Redis, and a rewritten segment must keep its bytes
    # across an upgrade (the provider's prompt cache): the algorithm is frozen, this pins it.
    assert make_prune_id(b"cache-key", b"secret") == "fdsuyvelrrikxic4gr7fhzwtj4"


def test_the_process_secret_is_random_per_process():
    other = subprocess.run(
        [sys.executable, "-c", "from sidecar.pruning.ids import PROCESS_SECRET; print(PROCESS_SECRET.hex())"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.strip()
    assert len(PROCESS_SECRET) == 32 and re.fullmatch(r"[0-9a-f]{64}", other)
    assert bytes.fromhex(other) != PROCESS_SECRET

"""The producer's partitioner: where aiokafka's ``DefaultPartitioner`` (the Java
client's murmur2) puts each keyed record, with each key's hash remembered."""

from __future__ import annotations

import random
from typing import Any

import pytest
from aiokafka.partitioner import DefaultPartitioner, murmur2

from router import kafka
from router.kafka import KeyPartitioner, key_hash, make_producer
from router.kafka import murmur2 as our_murmur2
from router.settings import Settings

pytestmark = pytest.mark.unit


def keys() -> list[bytes]:
    rng = random.Random(7)
    made = [b"", b"a", b"ab", b"abc", b"abcd", "bücher".encode()]
    made += [f"T-{rng.getrandbits(64):016x}".encode() for _ in range(2000)]
    made += [rng.randbytes(rng.randrange(1, 64)) for _ in range(2000)]
    return made


@pytest.mark.parametrize("count", [1, 2, 3, 6, 12, 50])
def test_every_key_lands_where_aiokafkas_default_partitioner_puts_it(count: int) -> None:
    partitions = list(range(count))
    ours, theirs = KeyPartitioner(), DefaultPartitioner()
    for key in keys():
        expected = theirs(key, partitions, partitions)
        assert ours(key, partitions, partitions) == expected
        assert ours(key, partitions, partitions) == expected  # remembered: the same


def test_our_murmur2_hashes_every_key_as_aiokafkas_does() -> None:
    """Every length's tail (0 to 3 bytes after the words), every byte value, keys of
    ticket ids and of raw bytes alike."""
    for key in [*keys(), bytes(range(256)), b"\xff" * 67]:
        assert our_murmur2(key) == murmur2(key), key


def test_a_key_is_hashed_once_however_many_records_carry_it() -> None:
    key_hash.cache_clear()
    partitioner = KeyPartitioner()
    for _ in range(5):
        partitioner(b"T-00000000000000aa", [0, 1, 2], [0, 1, 2])
    assert key_hash.cache_info().misses == 1
    assert key_hash.cache_info().hits == 4


def test_a_record_without_a_key_goes_to_an_available_partition() -> None:
    partitioner = KeyPartitioner()
    assert {partitioner(None, [0, 1, 2, 3], [2]) for _ in range(20)} == {2}
    assert partitioner(None, [0, 1, 2, 3], []) in {0, 1, 2, 3}


def test_the_producers_use_it(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[dict[str, Any]] = []
    monkeypatch.setattr(kafka, "AIOKafkaProducer", lambda **options: made.append(options))
    make_producer(Settings(kafka={"bootstrap_servers": "localhost:9"}))
    assert isinstance(made[0]["partitioner"], KeyPartitioner)

"""Commands packed in C (hiredis) reach Redis exactly as redis.asyncio packs them."""

from __future__ import annotations

import asyncio

import redis
from redis.asyncio.connection import Connection

from streams.connection import _PackedInC, connect_async


def test_packed_commands_equal_redis_pys_own() -> None:
    mine, theirs = _PackedInC(), Connection()
    mine.encoder = theirs.encoder
    for args in [("XACK", "s", "g", *[f"{i}-0" for i in range(3000)]),
                 ("XADD", "s", "*", "f", "ünïcode ✓", "n", 42, "x", 2.5),
                 ("CONFIG GET", "maxmemory"),
                 ("SET", "k", b"\xff\xfe raw bytes"),
                 # a dead letter's field holding the surrogate escapes of non-UTF-8 bytes
                 ("XADD", "s:dead", "*", "prompt_id", "caf\udce9")]:
        theirs.encoder.encoding_errors = "surrogateescape"
        assert b"".join(mine.pack_command(*args)) == b"".join(theirs.pack_command(*args)), args


def test_a_dead_letter_keeps_its_original_bytes(redis_url: str, redis_client: redis.Redis,
                                                stream_key: str) -> None:
    async def write() -> None:
        client = connect_async(redis_url, decode_responses=True,
                               encoding_errors="surrogateescape")
        await client.xadd(stream_key, {"prompt_id": b"caf\xe9".decode("utf-8", "surrogateescape"),
                                       "n": "1"})
        await client.aclose()

    asyncio.run(write())
    [(_, fields)] = redis_client.xrange(stream_key)
    assert fields == {b"prompt_id": b"caf\xe9", b"n": b"1"}

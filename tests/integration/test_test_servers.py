"""The real servers every later test relies on answer over real connections."""

from __future__ import annotations

import uuid

import psycopg
import redis.asyncio as aioredis
from pymongo import AsyncMongoClient

from devstack.servers import Server


async def test_postgres_round_trip(postgres: Server) -> None:
    async with await psycopg.AsyncConnection.connect(postgres.url, autocommit=True) as conn:
        table = f"t_{uuid.uuid4().hex[:8]}"
        await conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, name text)")
        await conn.execute(f"INSERT INTO {table} VALUES (%s, %s)", (1, "ada"))  # noqa: S608
        cur = await conn.execute(f"SELECT name FROM {table} WHERE id = %s", (1,))  # noqa: S608
        assert await cur.fetchone() == ("ada",)


async def test_redis_round_trip(redis_server: Server) -> None:
    client = aioredis.from_url(redis_server.url)
    try:
        key = f"test:{uuid.uuid4().hex}"
        await client.set(key, "42", ex=60)
        assert await client.get(key) == b"42"
        assert 0 < await client.ttl(key) <= 60
    finally:
        await client.aclose()


async def test_mongo_round_trip(mongo: Server) -> None:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongo.url)
    try:
        collection = client[f"test_{uuid.uuid4().hex[:8]}"]["things"]
        await collection.insert_one({"_id": "a", "n": 1})
        await collection.update_one({"_id": "a"}, {"$inc": {"n": 2}})
        assert await collection.find_one({"_id": "a"}) == {"_id": "a", "n": 3}
    finally:
        await client.close()


def test_postgres_survives_restart(postgres: Server) -> None:
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS durable (v int)")
        conn.execute("INSERT INTO durable VALUES (7)")
    postgres.stop()
    postgres.restart()
    with psycopg.connect(postgres.url) as conn:
        assert conn.execute("SELECT count(*) FROM durable WHERE v = 7").fetchone() == (1,)

"""The typed command methods against a real Redis: every family, the Python shapes of
their replies (the same for RESP2 and RESP3), str replies with decode_responses, the
callback style, and transforms applied inside pipelines and transactions."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import anyio
import pytest

from workerman.redis import NoScriptError, Redis, ResponseError, WrongTypeError
from workerman.redis._commands import Commands
from workerman.redis._script import Script

from .conftest import TEST_DB

pytestmark = pytest.mark.anyio


async def via_callback(method: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, Any]:
    """Call a command method in callback style; ``(result, error)`` once it is called."""
    done = anyio.Event()
    calls: list[tuple[Any, Any]] = []

    def callback(result: Any, error: BaseException | None) -> None:
        calls.append((result, error))
        done.set()

    assert method(*args, callback=callback, **kwargs) is None
    with anyio.fail_after(5):
        await done.wait()
    await anyio.sleep(0.01)
    assert len(calls) == 1
    return calls[0]


# -- strings ------------------------------------------------------------------------------


async def test_set_get_and_options(redis: Redis) -> None:
    assert await redis.get("missing") is None
    assert await redis.set("k", "v") is True
    assert await redis.get("k") == b"v"
    assert await redis.set("k", "other", nx=True) is None
    assert await redis.set("new", "x", xx=True) is None
    assert await redis.set("k", "v2", xx=True) is True
    assert await redis.set("k", "v3", get=True) == b"v2"
    assert await redis.set("k", 12, ex=100) is True
    assert 98 <= await redis.ttl("k") <= 100
    assert await redis.set("k", 1.5, px=timedelta(seconds=50)) is True
    assert 48_000 <= await redis.pttl("k") <= 50_000
    assert await redis.set("k", "kept", keepttl=True) is True
    assert await redis.pttl("k") > 0
    assert await redis.set("k", "at", exat=datetime.now() + timedelta(seconds=30)) is True
    assert 28 <= await redis.ttl("k") <= 30
    with pytest.raises(ValueError):
        redis.set("k", "v", nx=True, xx=True)
    with pytest.raises(ValueError):
        redis.set("k", "v", ex=1, px=1)


async def test_string_commands(redis: Redis) -> None:
    assert await redis.mset({"a": 1, "b": "two", b"c": b"3"}) is True
    assert await redis.mget("a", "b", "nope") == [b"1", b"two", None]
    assert await redis.mget(["a", "c"]) == [b"1", b"3"]
    assert await redis.msetnx({"a": 5, "z": 6}) is False
    assert await redis.msetnx({"y": 5, "z": 6}) is True
    assert await redis.incr("n") == 1
    assert await redis.incr("n", 5) == 6
    assert await redis.incrby("n", 4) == 10
    assert await redis.decr("n") == 9
    assert await redis.decr("n", 4) == 5
    assert await redis.decrby("n", 5) == 0
    assert await redis.incrbyfloat("f", 1.25) == 1.25
    assert await redis.append("s", "hello") == 5
    assert await redis.append("s", " world") == 11
    assert await redis.strlen("s") == 11
    assert await redis.getrange("s", 0, 4) == b"hello"
    assert await redis.setrange("s", 6, "WORLD") == 11
    assert await redis.get("s") == b"hello WORLD"
    assert await redis.getdel("s") == b"hello WORLD"
    assert await redis.exists("s") == 0
    assert await redis.setnx("nx", 1) is True
    assert await redis.setnx("nx", 2) is False
    assert await redis.setex("ex", 100, "v") is True
    assert 98 <= await redis.ttl("ex") <= 100
    assert await redis.psetex("pex", timedelta(seconds=10), "v") is True
    assert 9_000 <= await redis.pttl("pex") <= 10_000
    assert await redis.getex("ex", persist=True) == b"v"
    assert await redis.ttl("ex") == -1
    assert await redis.getex("ex", ex=50) == b"v"
    assert 48 <= await redis.ttl("ex") <= 50
    assert await redis.getset("ex", "w") == b"v"
    assert await redis.setbit("bits", 7, 1) == 0
    assert await redis.getbit("bits", 7) == 1
    assert await redis.bitcount("bits") == 1
    assert await redis.bitcount("bits", 1, 2) == 0


# -- keys ---------------------------------------------------------------------------------


async def test_key_commands(redis: Redis) -> None:
    await redis.mset({"a": 1, "b": 2, "c": 3})
    assert await redis.exists("a", "b", "a", "nope") == 3
    assert await redis.type("a") == b"string"
    assert await redis.type("nope") == b"none"
    assert await redis.touch("a", "nope") == 1
    assert await redis.delete("a", "nope") == 1
    assert await redis.unlink("b") == 1
    assert await redis.expire("c", 100) is True
    assert await redis.expire("c", 50, gt=True) is False
    assert await redis.expire("c", timedelta(seconds=50), lt=True) is True
    assert await redis.expire("nope", 10) is False
    assert 48 <= await redis.ttl("c") <= 50
    assert await redis.pexpire("c", 40_000) is True
    assert await redis.pexpire("c", 40_000, nx=True) is False
    assert 38_000 <= await redis.pttl("c") <= 40_000
    when = int(datetime.now().timestamp()) + 60
    assert await redis.expireat("c", when) is True
    assert await redis.expiretime("c") == when
    assert await redis.pexpireat("c", datetime.fromtimestamp(when + 10)) is True
    assert await redis.expiretime("c") == when + 10
    assert await redis.persist("c") is True
    assert await redis.persist("c") is False
    assert await redis.ttl("c") == -1
    assert await redis.ttl("nope") == -2
    assert await redis.rename("c", "d") is True
    await redis.set("e", "x")
    assert await redis.renamenx("d", "e") is False
    assert await redis.renamenx("d", "f") is True
    assert await redis.copy("f", "g") is True
    assert await redis.copy("f", "g") is False
    assert await redis.copy("e", "g", replace=True) is True
    assert await redis.get("g") == b"x"
    assert sorted(await redis.keys()) == [b"e", b"f", b"g"]
    assert await redis.keys("f*") == [b"f"]
    assert await redis.randomkey() in (b"e", b"f", b"g")
    dumped = await redis.dump("e")
    assert isinstance(dumped, bytes)
    assert await redis.restore("restored", 0, dumped) is True
    assert await redis.get("restored") == b"x"
    with pytest.raises(ResponseError):
        await redis.restore("restored", 0, dumped)
    assert await redis.restore("restored", 0, dumped, replace=True) is True


async def test_scan(redis: Redis) -> None:
    await redis.mset({f"key:{i}": i for i in range(30)})
    await redis.sadd("aset", "x")
    seen: list[bytes] = []
    cursor = 0
    while True:
        cursor, keys = await redis.scan(cursor, match="key:*", count=7)
        assert isinstance(cursor, int)
        seen += keys
        if cursor == 0:
            break
    assert sorted(set(seen)) == sorted(f"key:{i}".encode() for i in range(30))
    cursor, keys = await redis.scan(0, count=1000, type="set")
    assert (cursor, keys) == (0, [b"aset"])


# -- hashes -------------------------------------------------------------------------------


async def test_hash_commands(redis: Redis) -> None:
    assert await redis.hgetall("h") == {}
    assert await redis.hset("h", "f1", "v1") == 1
    assert await redis.hset("h", mapping={"f2": 2, "f3": 3.5}) == 2
    assert await redis.hset("h", items=["f4", "v4"], mapping={"f1": "V1"}) == 1
    assert await redis.hgetall("h") == {b"f1": b"V1", b"f2": b"2", b"f3": b"3.5", b"f4": b"v4"}
    assert await redis.hget("h", "f2") == b"2"
    assert await redis.hget("h", "nope") is None
    assert await redis.hmget("h", ["f1", "nope"], "f2") == [b"V1", None, b"2"]
    assert await redis.hexists("h", "f1") is True
    assert await redis.hexists("h", "nope") is False
    assert await redis.hsetnx("h", "f1", "x") is False
    assert await redis.hsetnx("h", "f5", "x") is True
    assert await redis.hincrby("h", "f2", 3) == 5
    assert await redis.hincrbyfloat("h", "f3", 1.0) == 4.5
    assert sorted(await redis.hkeys("h")) == [b"f1", b"f2", b"f3", b"f4", b"f5"]
    assert sorted(await redis.hvals("h")) == sorted([b"V1", b"5", b"4.5", b"v4", b"x"])
    assert await redis.hlen("h") == 5
    assert await redis.hstrlen("h", "f4") == 2
    assert await redis.hdel("h", "f4", "f5", "nope") == 2
    assert await redis.hrandfield("h") in (b"f1", b"f2", b"f3")
    assert sorted(await redis.hrandfield("h", 3)) == [b"f1", b"f2", b"f3"]
    pairs = await redis.hrandfield("h", 3, withvalues=True)
    assert sorted(pairs) == [(b"f1", b"V1"), (b"f2", b"5"), (b"f3", b"4.5")]
    cursor, fields = await redis.hscan("h", match="f[12]")
    assert (cursor, fields) == (0, {b"f1": b"V1", b"f2": b"5"})
    with pytest.raises(ValueError):
        redis.hset("h")


# -- lists --------------------------------------------------------------------------------


async def test_list_commands(redis: Redis) -> None:
    assert await redis.rpush("l", "a", "b", "c") == 3
    assert await redis.lpush("l", "z") == 4
    assert await redis.lpushx("nope", "x") == 0
    assert await redis.rpushx("l", "d") == 5
    assert await redis.lrange("l", 0, -1) == [b"z", b"a", b"b", b"c", b"d"]
    assert await redis.llen("l") == 5
    assert await redis.lindex("l", 1) == b"a"
    assert await redis.lindex("l", 99) is None
    assert await redis.lset("l", 1, "A") is True
    assert await redis.linsert("l", "before", "b", "ab") == 6
    assert await redis.linsert("l", "AFTER", "nope", "x") == -1
    assert await redis.lpos("l", "b") == 3
    assert await redis.lpos("l", "nope") is None
    assert await redis.lpos("l", "b", count=0) == [3]
    assert await redis.rpush("l", "b") == 7
    assert await redis.lrem("l", 0, "b") == 2
    assert await redis.ltrim("l", 0, 3) is True
    assert await redis.lrange("l", 0, -1) == [b"z", b"A", b"ab", b"c"]
    assert await redis.lpop("l") == b"z"
    assert await redis.rpop("l") == b"c"
    assert await redis.lpop("l", 5) == [b"A", b"ab"]
    assert await redis.lpop("l") is None
    assert await redis.rpop("l", 2) is None
    await redis.rpush("src", "1", "2", "3")
    assert await redis.lmove("src", "dst") == b"1"
    assert await redis.lmove("src", "dst", "RIGHT", "LEFT") == b"3"
    assert await redis.lrange("dst", 0, -1) == [b"3", b"1"]
    assert await redis.rpoplpush("src", "dst") == b"2"
    assert await redis.lmpop(["empty", "dst"], "RIGHT", count=2) == (b"dst", [b"1", b"3"])
    assert await redis.lmpop("empty") is None
    with pytest.raises(ValueError):
        redis.lmove("a", "b", "UP")


async def test_blocking_list_commands(redis: Redis) -> None:
    assert await redis.blpop(["q1", "q2"], timeout=0.1) is None
    assert await redis.brpop("q1", timeout=0.1) is None
    assert await redis.blmove("q1", "q2", 0.1) is None
    assert await redis.blmpop(0.1, "q1") is None
    await redis.rpush("q2", "a", "b")
    assert await redis.blpop(["q1", "q2"], timeout=1) == (b"q2", b"a")
    assert await redis.brpop(["q2"], timeout=1) == (b"q2", b"b")

    results: list[Any] = []

    async def waiter() -> None:
        results.append(await redis.blpop("later", timeout=5))

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        await anyio.sleep(0.1)
        assert await redis.rpush("later", "x") == 1  # not held up by the waiting BLPOP
    assert results == [(b"later", b"x")]
    await redis.rpush("q1", "m")
    assert await redis.blmove("q1", "q2", 1, "LEFT", "LEFT") == b"m"
    assert await redis.blmpop(1, ["q1", "q2"], count=5) == (b"q2", [b"m"])


# -- sets ---------------------------------------------------------------------------------


async def test_set_commands(redis: Redis) -> None:
    assert await redis.sadd("s1", "a", "b", "c") == 3
    assert await redis.sadd("s1", "a") == 0
    assert await redis.sadd("s2", "b", "c", "d") == 3
    assert await redis.smembers("s1") == {b"a", b"b", b"c"}
    assert await redis.smembers("nope") == set()
    assert await redis.sismember("s1", "a") is True
    assert await redis.sismember("s1", "z") is False
    assert await redis.smismember("s1", ["a", "z"], "b") == [True, False, True]
    assert await redis.scard("s1") == 3
    assert await redis.sinter("s1", "s2") == {b"b", b"c"}
    assert await redis.sunion(["s1", "s2"]) == {b"a", b"b", b"c", b"d"}
    assert await redis.sdiff("s1", "s2") == {b"a"}
    assert await redis.sinterstore("si", "s1", "s2") == 2
    assert await redis.sunionstore("su", ["s1", "s2"]) == 4
    assert await redis.sdiffstore("sd", "s2", "s1") == 1
    assert await redis.smembers("sd") == {b"d"}
    assert await redis.sintercard(["s1", "s2"]) == 2
    assert await redis.sintercard(["s1", "s2"], limit=1) == 1
    assert await redis.smove("s1", "s2", "a") is True
    assert await redis.smove("s1", "s2", "a") is False
    assert await redis.srem("s2", "a", "z") == 1
    member = await redis.srandmember("s2")
    assert member in (b"b", b"c", b"d")
    many = await redis.srandmember("s2", 2)
    assert isinstance(many, list) and len(many) == 2
    assert len(await redis.srandmember("s2", -5)) == 5
    popped = await redis.spop("s2", 2)
    assert isinstance(popped, list) and len(popped) == 2
    assert await redis.spop("s2") in (b"b", b"c", b"d")
    assert await redis.spop("s2") is None
    assert await redis.spop("s2", 3) == []
    await redis.sadd("big", *range(20))
    cursor, members = await redis.sscan("big", match="1*", count=100)
    assert cursor == 0
    assert sorted(members) == sorted(str(i).encode() for i in range(20) if str(i)[0] == "1")


# -- sorted sets --------------------------------------------------------------------------


async def test_sorted_set_commands(redis: Redis) -> None:
    assert await redis.zadd("z", {"a": 1, "b": 2, "c": 3.5}) == 3
    assert await redis.zadd("z", {"a": 10}, nx=True) == 0
    assert await redis.zadd("z", {"a": 0.5, "d": 4}, ch=True) == 2
    assert await redis.zadd("z", {"a": 5}, xx=True, lt=True) == 0
    assert await redis.zadd("z", {"a": 1.5}, incr=True) == 2.0
    assert await redis.zadd("z", {"zz": 1}, xx=True, incr=True) is None
    assert await redis.zscore("z", "a") == 2.0
    assert await redis.zscore("z", "nope") is None
    assert await redis.zmscore("z", ["a", "nope", "c"]) == [2.0, None, 3.5]
    assert await redis.zincrby("z", 0.25, "a") == 2.25
    assert await redis.zcard("z") == 4
    assert await redis.zcount("z", 2, "+inf") == 4
    assert await redis.zcount("z", "(2", 4) == 3
    assert await redis.zrange("z", 0, -1) == [b"b", b"a", b"c", b"d"]
    assert await redis.zrange("z", 0, 1, withscores=True) == [(b"b", 2.0), (b"a", 2.25)]
    assert await redis.zrange("z", 0, 0, rev=True, withscores=True) == [(b"d", 4.0)]
    assert await redis.zrange("z", 2.1, 3.5, byscore=True) == [b"a", b"c"]
    assert await redis.zrange("z", "+inf", 0, byscore=True, rev=True, offset=1, count=2) == [
        b"c",
        b"a",
    ]
    assert await redis.zrevrange("z", 0, 1) == [b"d", b"c"]
    assert await redis.zrevrange("z", 0, 0, withscores=True) == [(b"d", 4.0)]
    assert await redis.zrangebyscore("z", 2, 3.5, withscores=True) == [
        (b"b", 2.0),
        (b"a", 2.25),
        (b"c", 3.5),
    ]
    assert await redis.zrangebyscore("z", "-inf", "+inf", offset=1, count=1) == [b"a"]
    assert await redis.zrevrangebyscore("z", 4, 3) == [b"d", b"c"]
    assert await redis.zrank("z", "b") == 0
    assert await redis.zrank("z", "nope") is None
    assert await redis.zrevrank("z", "b") == 3
    assert await redis.zrangestore("zs", "z", 0, 1) == 2
    assert await redis.zrange("zs", 0, -1, withscores=True) == [(b"b", 2.0), (b"a", 2.25)]
    await redis.zadd("lex", {"a": 0, "b": 0, "c": 0, "d": 0})
    assert await redis.zrangebylex("lex", "[b", "+") == [b"b", b"c", b"d"]
    assert await redis.zrangebylex("lex", "-", "+", offset=1, count=2) == [b"b", b"c"]
    assert await redis.zrange("lex", "(a", "[c", bylex=True) == [b"b", b"c"]
    assert await redis.zlexcount("lex", "-", "(c") == 2
    assert await redis.zremrangebylex("lex", "[a", "[b") == 2
    assert await redis.zpopmin("z") == [(b"b", 2.0)]
    assert await redis.zpopmax("z", 2) == [(b"d", 4.0), (b"c", 3.5)]
    assert await redis.zpopmin("nope") == []
    assert await redis.zpopmin("nope", 3) == []
    assert await redis.zrem("z", "a", "nope") == 1
    await redis.zadd("r", {"a": 1, "b": 2, "c": 3, "d": 4})
    assert await redis.zremrangebyscore("r", "(3", "+inf") == 1
    assert await redis.zremrangebyrank("r", 0, 0) == 1
    assert await redis.zrandmember("r") in (b"b", b"c")
    assert sorted(await redis.zrandmember("r", 2)) == [b"b", b"c"]
    assert sorted(await redis.zrandmember("r", 2, withscores=True)) == [(b"b", 2.0), (b"c", 3.0)]
    assert await redis.zmpop(["nope", "r"], min=False) == (b"r", [(b"c", 3.0)])
    assert await redis.zmpop("nope") is None
    with pytest.raises(ValueError):
        redis.zadd("z", {"a": 1, "b": 2}, incr=True)
    with pytest.raises(ValueError):
        redis.zrange("z", 0, 1, offset=1, count=1)


async def test_sorted_set_algebra_and_scan(redis: Redis) -> None:
    await redis.zadd("z1", {"a": 1, "b": 2})
    await redis.zadd("z2", {"b": 3, "c": 4})
    assert await redis.zunion(["z1", "z2"]) == [b"a", b"c", b"b"]
    assert await redis.zunion(["z1", "z2"], withscores=True) == [
        (b"a", 1.0),
        (b"c", 4.0),
        (b"b", 5.0),
    ]
    assert await redis.zinter({"z1": 2, "z2": 1}, withscores=True) == [(b"b", 7.0)]
    assert await redis.zinter(["z1", "z2"], aggregate="max", withscores=True) == [(b"b", 3.0)]
    assert await redis.zunionstore("u", ["z1", "z2"], aggregate="MIN") == 3
    assert await redis.zscore("u", "b") == 2.0
    assert await redis.zinterstore("i", {"z1": 10, "z2": 1}) == 1
    assert await redis.zscore("i", "b") == 23.0
    await redis.zadd("big", {f"m{i}": i + 0.5 for i in range(20)})
    cursor, items = await redis.zscan("big", match="m1*", count=100)
    assert cursor == 0
    assert sorted(items) == sorted(
        (f"m{i}".encode(), i + 0.5) for i in range(20) if f"m{i}".startswith("m1")
    )
    await redis.zadd("inf", {"lo": "-inf", "hi": "+inf"})
    assert await redis.zrange("inf", 0, -1, withscores=True) == [
        (b"lo", -math.inf),
        (b"hi", math.inf),
    ]


async def test_blocking_sorted_set_commands(redis: Redis) -> None:
    assert await redis.bzpopmin(["z1", "z2"], timeout=0.1) is None
    assert await redis.bzpopmax("z1", timeout=0.1) is None
    await redis.zadd("z2", {"a": 1, "b": 2.5})
    assert await redis.bzpopmin(["z1", "z2"], timeout=1) == (b"z2", b"a", 1.0)
    assert await redis.bzpopmax("z2", timeout=1) == (b"z2", b"b", 2.5)


# -- streams ------------------------------------------------------------------------------


async def test_stream_basics(redis: Redis) -> None:
    id1 = await redis.xadd("st", {"f": "v1", "n": 1}, id="1-1")
    assert id1 == b"1-1"
    id2 = await redis.xadd("st", {"f": "v2"})
    assert isinstance(id2, bytes) and b"-" in id2
    assert await redis.xadd("nope", {"f": "v"}, nomkstream=True) is None
    assert await redis.xlen("st") == 2
    assert await redis.xrange("st") == [(b"1-1", {b"f": b"v1", b"n": b"1"}), (id2, {b"f": b"v2"})]
    assert await redis.xrange("st", min="(1-1") == [(id2, {b"f": b"v2"})]
    assert await redis.xrevrange("st", count=1) == [(id2, {b"f": b"v2"})]
    assert await redis.xrange("nope") == []
    for i in range(10):
        await redis.xadd("st", {"i": i}, maxlen=5, approximate=False)
    assert await redis.xlen("st") == 5
    assert await redis.xtrim("st", maxlen=2, approximate=False) == 3
    entries = await redis.xrange("st")
    assert [fields for _, fields in entries] == [{b"i": b"8"}, {b"i": b"9"}]
    assert await redis.xdel("st", entries[0][0], "0-1") == 1
    assert await redis.xtrim("st", minid="99999999999999-0", approximate=False) == 1
    with pytest.raises(ValueError):
        redis.xtrim("st")


async def test_xread(redis: Redis) -> None:
    await redis.xadd("s1", {"a": 1}, id="1-0")
    await redis.xadd("s1", {"a": 2}, id="2-0")
    await redis.xadd("s2", {"b": "x", "c": "y"}, id="5-0")
    result = await redis.xread({"s1": 0, "s2": "0-0"})
    assert result == [
        [b"s1", [(b"1-0", {b"a": b"1"}), (b"2-0", {b"a": b"2"})]],
        [b"s2", [(b"5-0", {b"b": b"x", b"c": b"y"})]],
    ]
    assert await redis.xread({"s1": "1-0"}, count=1) == [[b"s1", [(b"2-0", {b"a": b"2"})]]]
    assert await redis.xread({"s1": "$"}, block=50) == []
    assert await redis.xread({"s1": "2-0"}) == []

    results: list[Any] = []

    async def reader() -> None:
        results.append(await redis.xread({"s1": "$"}, block=5000))

    async with anyio.create_task_group() as tg:
        tg.start_soon(reader)
        await anyio.sleep(0.1)
        await redis.xadd("s1", {"a": 3}, id="3-0")
    assert results == [[[b"s1", [(b"3-0", {b"a": b"3"})]]]]


async def test_consumer_groups(redis: Redis) -> None:
    assert await redis.xgroup_create("st", "g", id="0", mkstream=True) is True
    with pytest.raises(ResponseError):
        await redis.xgroup_create("st", "g")
    await redis.xadd("st", {"n": 1}, id="1-0")
    await redis.xadd("st", {"n": 2}, id="2-0")
    await redis.xadd("st", {"n": 3}, id="3-0")
    assert await redis.xgroup_createconsumer("st", "g", "idle") is True
    read = await redis.xreadgroup("g", "alice", {"st": ">"}, count=2)
    assert read == [[b"st", [(b"1-0", {b"n": b"1"}), (b"2-0", {b"n": b"2"})]]]
    assert await redis.xreadgroup("g", "bob", {"st": ">"}, block=50) == [
        [b"st", [(b"3-0", {b"n": b"3"})]]
    ]
    assert await redis.xreadgroup("g", "bob", {"st": ">"}, block=50) == []
    summary = await redis.xpending("st", "g")
    assert summary == {
        "pending": 3,
        "min": b"1-0",
        "max": b"3-0",
        "consumers": [{"name": b"alice", "pending": 2}, {"name": b"bob", "pending": 1}],
    }
    detail = await redis.xpending_range("st", "g", consumername="alice")
    assert [(d["message_id"], d["consumer"], d["times_delivered"]) for d in detail] == [
        (b"1-0", b"alice", 1),
        (b"2-0", b"alice", 1),
    ]
    assert all(isinstance(d["time_since_delivered"], int) for d in detail)
    assert await redis.xack("st", "g", "1-0", "9-0") == 1
    claimed = await redis.xclaim("st", "g", "bob", 0, ["2-0"])
    assert claimed == [(b"2-0", {b"n": b"2"})]
    assert await redis.xclaim("st", "g", "alice", 0, ["2-0"], justid=True) == [b"2-0"]
    # a pending entry deleted from the stream: its fields come back as None
    await redis.xdel("st", "3-0")
    assert await redis.xreadgroup("g", "bob", {"st": "0"}) == [[b"st", [(b"3-0", None)]]]
    next_id, entries, deleted = await redis.xautoclaim("st", "g", "carol", 0, "0-0")
    assert next_id == b"0-0"
    assert entries == [(b"2-0", {b"n": b"2"})]
    assert deleted == [b"3-0"]
    assert await redis.xautoclaim("st", "g", "dave", 0, justid=True) == (b"0-0", [b"2-0"], [])
    groups = await redis.xinfo_groups("st")
    assert len(groups) == 1
    assert groups[0]["name"] == b"g"
    assert groups[0]["pending"] == 1
    assert groups[0]["last-delivered-id"] == b"3-0"
    consumers = await redis.xinfo_consumers("st", "g")
    assert {c["name"]: c["pending"] for c in consumers} == {
        b"alice": 0,
        b"bob": 0,
        b"carol": 0,
        b"dave": 1,
        b"idle": 0,
    }
    assert await redis.xgroup_delconsumer("st", "g", "dave") == 1
    assert await redis.xgroup_setid("st", "g", "0") is True
    assert await redis.xgroup_destroy("st", "g") is True
    assert await redis.xgroup_destroy("st", "g") is False


async def test_xinfo_stream(redis: Redis) -> None:
    await redis.xadd("st", {"a": 1}, id="1-0")
    await redis.xadd("st", {"b": 2}, id="2-0")
    await redis.xgroup_create("st", "g", id="0")
    await redis.xreadgroup("g", "c1", {"st": ">"}, count=1)
    info = await redis.xinfo_stream("st")
    assert info["length"] == 2
    assert info["groups"] == 1
    assert info["first-entry"] == (b"1-0", {b"a": b"1"})
    assert info["last-entry"] == (b"2-0", {b"b": b"2"})
    assert info["last-generated-id"] == b"2-0"
    assert all(isinstance(key, str) for key in info)
    full = await redis.xinfo_stream("st", full=True)
    assert full["length"] == 2
    assert full["entries"] == [(b"1-0", {b"a": b"1"}), (b"2-0", {b"b": b"2"})]
    [group] = full["groups"]
    assert group["name"] == b"g"
    assert group["pel-count"] == 1
    assert [entry[0] for entry in group["pending"]] == [b"1-0"]
    [consumer] = group["consumers"]
    assert consumer["name"] == b"c1"
    assert [entry[0] for entry in consumer["pending"]] == [b"1-0"]
    await redis.delete("st")
    await redis.xadd("st", {"x": 1}, id="1-0")
    await redis.xdel("st", "1-0")
    empty = await redis.xinfo_stream("st")
    assert empty["length"] == 0
    assert empty["first-entry"] is None
    assert empty["last-entry"] is None


# -- hyperloglog --------------------------------------------------------------------------


async def test_hyperloglog(redis: Redis) -> None:
    assert await redis.pfadd("h1", "a", "b", "c") is True
    assert await redis.pfadd("h1", "a") is False
    await redis.pfadd("h2", "c", "d")
    assert await redis.pfcount("h1") == 3
    assert await redis.pfcount("h1", "h2") == 4
    assert await redis.pfmerge("h3", "h1", "h2") is True
    assert await redis.pfcount("h3") == 4


# -- geo ----------------------------------------------------------------------------------

PALERMO = (13.361389, 38.115556, "Palermo")
CATANIA = (15.087269, 37.502669, "Catania")


async def test_geo_commands(redis: Redis) -> None:
    assert await redis.geoadd("sicily", [PALERMO, CATANIA]) == 2
    assert await redis.geoadd("sicily", [13.361389, 38.115556, "Palermo"], nx=True) == 0
    assert await redis.geoadd("sicily", [(13.5, 38.0, "Palermo")], xx=True, ch=True) == 1
    await redis.geoadd("sicily", [PALERMO], xx=True)
    positions = await redis.geopos("sicily", "Palermo", "nope", "Catania")
    assert positions[1] is None
    assert positions[0] == (pytest.approx(13.361389, abs=1e-5), pytest.approx(38.115556, abs=1e-5))
    assert all(isinstance(v, float) for v in positions[2])
    assert await redis.geodist("sicily", "Palermo", "Catania") == pytest.approx(166274.15, rel=1e-4)
    assert await redis.geodist("sicily", "Palermo", "Catania", unit="km") == pytest.approx(
        166.274, rel=1e-4
    )
    assert await redis.geodist("sicily", "Palermo", "nope") is None
    assert await redis.geohash("sicily", "Palermo", "nope") == [b"sqc8b49rny0", None]
    assert await redis.geosearch(
        "sicily", longitude=15, latitude=37, radius=200, unit="km", sort="ASC"
    ) == [b"Catania", b"Palermo"]
    assert await redis.geosearch("sicily", member="Palermo", radius=10, unit="km") == [b"Palermo"]
    full = await redis.geosearch(
        "sicily",
        longitude=15,
        latitude=37,
        width=400,
        height=400,
        unit="km",
        sort="DESC",
        count=2,
        withcoord=True,
        withdist=True,
        withhash=True,
    )
    assert [row[0] for row in full] == [b"Palermo", b"Catania"]
    _member, dist, geohash, (lon, lat) = full[0]
    assert dist == pytest.approx(190.4424, rel=1e-4)
    assert geohash == 3479099956230698
    assert (lon, lat) == (pytest.approx(13.361389, abs=1e-5), pytest.approx(38.115556, abs=1e-5))
    only_dist = await redis.geosearch(
        "sicily", member="Catania", radius=1, unit="km", withdist=True
    )
    assert only_dist == [[b"Catania", 0.0]]
    only_coord = await redis.geosearch(
        "sicily", member="Catania", radius=1, unit="km", withcoord=True, count=1, any=True
    )
    assert only_coord[0][0] == b"Catania" and len(only_coord[0][1]) == 2
    assert (
        await redis.geosearchstore("near", "sicily", member="Palermo", radius=500, unit="km") == 2
    )
    assert (
        await redis.geosearchstore(
            "dists", "sicily", member="Palermo", radius=500, unit="km", storedist=True
        )
        == 2
    )
    assert await redis.zscore("dists", "Palermo") == 0.0
    with pytest.raises(ValueError):
        redis.geosearch("sicily", radius=1)
    with pytest.raises(ValueError):
        redis.geosearch("sicily", member="Palermo", radius=1, unit="parsec")


# -- scripting ----------------------------------------------------------------------------

LUA = "return {KEYS[1], ARGV[1], redis.call('INCRBY', KEYS[1], ARGV[1])}"


async def test_eval_and_script_management(redis: Redis) -> None:
    assert await redis.eval(LUA, 1, "counter", 5) == [b"counter", b"5", 5]
    sha = await redis.script_load(LUA)
    assert sha == hashlib.sha1(LUA.encode()).hexdigest().encode()
    assert await redis.evalsha(sha, 1, "counter", 2) == [b"counter", b"2", 7]
    assert await redis.eval_ro("return redis.call('GET', KEYS[1])", 1, "counter") == b"7"
    assert await redis.evalsha_ro(await redis.script_load("return ARGV[1]"), 0, "hi") == b"hi"
    assert await redis.script_exists(sha, "0" * 40) == [True, False]
    assert await redis.script_flush() is True
    assert await redis.script_exists(sha) == [False]
    with pytest.raises(NoScriptError):
        await redis.evalsha(sha, 1, "counter", 1)
    assert await redis.script_flush("sync") is True
    with pytest.raises(ResponseError):
        await redis.script_kill()  # NOTBUSY


async def test_script_helper(redis: Redis) -> None:
    script = Script(redis, LUA)
    assert script.sha == hashlib.sha1(LUA.encode()).hexdigest()
    await redis.script_flush()
    assert await script(keys=["c"], args=[3]) == [b"c", b"3", 3]  # EVALSHA fails, EVAL runs
    assert await redis.script_exists(script.sha) == [True]
    assert await script(keys=["c"], args=[1]) == [b"c", b"1", 4]  # EVALSHA
    await redis.script_flush()
    assert await via_callback(script, keys=["c"], args=[1]) == ([b"c", b"1", 5], None)
    assert await via_callback(script, keys=["c"], args=[1]) == ([b"c", b"1", 6], None)
    bad = Script(redis, b"return redis.call('NOSUCHCOMMAND')")
    with pytest.raises(ResponseError):
        await bad()
    result, error = await via_callback(bad)
    assert result is None and isinstance(error, ResponseError)


# -- transactions and pipelines -----------------------------------------------------------


async def test_transaction_applies_transforms(redis: Redis) -> None:
    await redis.zadd("z", {"a": 1})
    await redis.xadd("st", {"f": "v"}, id="1-0")
    async with redis.pipeline(transaction=True) as pipe:
        assert pipe.set("k", "v") is pipe
        pipe.get("k").hset("h", mapping={"a": 1}).hgetall("h")
        pipe.zrange("z", 0, -1, withscores=True).zscore("z", "a").sismember("s", "x")
        pipe.xread({"st": 0}).xinfo_stream("st").time().smembers("nope")
        pipe.geoadd("g", [PALERMO]).geopos("g", "Palermo").info("server")
        results = await pipe.execute()
    assert results[:9] == [
        True,
        b"v",
        1,
        {b"a": b"1"},
        [(b"a", 1.0)],
        1.0,
        False,
        [[b"st", [(b"1-0", {b"f": b"v"})]]],
        results[8],
    ]
    assert results[8]["length"] == 1 and results[8]["first-entry"] == (b"1-0", {b"f": b"v"})
    seconds, micros = results[9]
    assert isinstance(seconds, int) and isinstance(micros, int)
    assert results[10] == set()
    assert results[11] == 1
    assert isinstance(results[12][0], tuple) and len(results[12][0]) == 2
    assert "redis_version" in results[13]["server"]


async def test_pipeline_without_transaction_and_errors(redis: Redis) -> None:
    async with redis.pipeline(transaction=False) as pipe:
        pipe.set("s", "x").incr("s").hgetall("s").set("t", "1", nx=True).set("t", "2", nx=True)
        results = await pipe.execute(raise_on_error=False)
    assert results[0] is True
    assert isinstance(results[1], ResponseError)
    assert isinstance(results[2], WrongTypeError)
    assert results[3:] == [True, None]


async def test_low_level_multi_exec(redis: Redis) -> None:
    assert await redis.multi() is True
    assert await redis.incr("n") in (b"QUEUED", "QUEUED")
    assert await redis.incr("n") in (b"QUEUED", "QUEUED")
    assert await redis.exec() == [1, 2]
    assert await redis.multi() is True
    await redis.incr("n")
    assert await redis.discard() is True
    assert await redis.get("n") == b"2"
    assert await redis.watch("n") is True
    assert await redis.unwatch() is True


# -- server -------------------------------------------------------------------------------


async def test_server_commands(redis: Redis) -> None:
    assert await redis.ping() is True
    assert await redis.ping("hi") == b"hi"
    assert await redis.echo("hello") == b"hello"
    info = await redis.info()
    assert info["server"]["redis_version"].count(".") == 2
    assert isinstance(info["server"]["tcp_port"], int)
    assert isinstance(info["memory"]["mem_fragmentation_ratio"], float)
    await redis.set("k", "v")
    keyspace = await redis.info("keyspace")
    assert list(keyspace) == ["keyspace"]
    # other databases of the server may hold keys too: look at the tests' own
    db_stats = keyspace["keyspace"][f"db{TEST_DB}"]
    assert db_stats["keys"] == 1
    stats = await redis.info("commandstats")
    assert isinstance(stats["commandstats"]["cmdstat_set"]["calls"], int)
    several = await redis.info("server", "clients")
    assert set(several) == {"server", "clients"}
    assert await redis.dbsize() == 1
    assert await redis.flushdb() is True
    assert await redis.dbsize() == 0
    await redis.set("k", "v")
    assert await redis.flushdb(asynchronous=True) is True
    seconds, micros = await redis.time()
    assert abs(seconds - datetime.now().timestamp()) < 60 and 0 <= micros < 1_000_000
    assert isinstance(await redis.lastsave(), int)
    config = await redis.config_get("maxmemory*")
    assert b"maxmemory-policy" in config
    old = (await redis.config_get("slowlog-max-len"))[b"slowlog-max-len"]
    assert await redis.config_set("slowlog-max-len", 200) is True
    assert await redis.config_get("slowlog-max-len") == {b"slowlog-max-len": b"200"}
    await redis.config_set("slowlog-max-len", old)
    both = await redis.config_get("slowlog-max-len", "maxclients")
    assert set(both) == {b"slowlog-max-len", b"maxclients"}
    assert await redis.wait(0, 10) == 0
    assert await redis.set("e", "hello") is True
    assert await redis.object_encoding("e") == b"embstr"
    assert await redis.object_encoding("nope") is None
    assert isinstance(await redis.object_refcount("e"), int)
    assert isinstance(await redis.object_idletime("e"), int)
    usage = await redis.memory_usage("e")
    assert isinstance(usage, int) and usage > 0
    assert await redis.memory_usage("nope") is None
    assert await redis.memory_usage("e", samples=0) > 0


async def test_client_and_connection_commands(redis: Redis, test_url: str, resp: int) -> None:
    assert await redis.client_setname("cmd-tests") is True
    assert await redis.client_getname() == b"cmd-tests"
    my_id = await redis.client_id()
    assert isinstance(my_id, int)
    me = await redis.client_info()
    assert me["id"] == str(my_id) and me["name"] == "cmd-tests"
    clients = await redis.client_list()
    assert any(c["id"] == str(my_id) for c in clients)
    assert all(isinstance(c, dict) for c in await redis.client_list("normal"))
    hello = await redis.hello()
    assert hello["proto"] == resp
    assert hello["server"] == b"redis"
    assert hello["id"] == my_id
    assert isinstance(hello["modules"], list)

    other = Redis.from_url(test_url, protocol=resp)
    try:
        assert await other.client_setname("victim") is True
        victim = await other.client_id()
        assert await redis.client_kill_filter(_id=victim) == 1
        addr = next(c["addr"] for c in await redis.client_list() if c["id"] == str(my_id))
        assert addr  # (killing ourselves by address would drop this test's connection)
        with pytest.raises(ResponseError):
            await redis.client_kill("127.0.0.1:1")
        assert await other.select(14) is True
        assert await other.set("in-db-14", 1) is True
        assert await other.delete("in-db-14") == 1
    finally:
        await other.aclose()
    assert await redis.exists("in-db-14") == 0


# -- the same shapes for RESP2 and RESP3 --------------------------------------------------


async def _nested_replies(client: Redis) -> list[Any]:
    await client.flushdb()
    await client.hset("h", mapping={"a": 1, "b": 2})
    await client.sadd("s", "x", "y")
    await client.zadd("z", {"m": 1.5, "n": 2})
    await client.xadd("st", {"f": "v"}, id="1-0")
    await client.xgroup_create("st", "g", id="0")
    await client.xreadgroup("g", "c", {"st": ">"})
    await client.geoadd("geo", [PALERMO, CATANIA])
    async with client.pipeline() as pipe:
        pipe.hgetall("h").zrange("z", 0, -1, withscores=True).zpopmin("z")
        in_transaction = await pipe.execute()
    return [
        await client.hgetall("h"),
        await client.smembers("s"),
        await client.zrange("z", 0, -1, withscores=True),
        await client.zrangebyscore("z", 0, 5, withscores=True),
        await client.zrandmember("z", 1, withscores=True),
        await client.zscan("z"),
        await client.xread({"st": 0}),
        await client.xrange("st"),
        await client.xpending("st", "g"),
        await client.xinfo_groups("st"),
        await client.xinfo_consumers("st", "g"),
        {
            k: v
            for k, v in (await client.xinfo_stream("st")).items()
            if k != "recorded-first-entry-id"
        },
        await client.geosearch(
            "geo",
            member="Palermo",
            radius=300,
            unit="km",
            sort="ASC",
            withcoord=True,
            withdist=True,
            withhash=True,
        ),
        await client.geopos("geo", "Palermo", "nope"),
        await client.geodist("geo", "Palermo", "Catania"),
        await client.config_get("maxmemory-policy"),
        (await client.info("keyspace"))["keyspace"],
        in_transaction,
        await client.eval("return {1, 'two', {3}}", 0),
    ]


async def test_resp2_and_resp3_give_the_same_shapes(redis: Redis, test_url: str, resp: int) -> None:
    other = Redis.from_url(test_url, protocol=5 - resp)
    try:
        mine = await _nested_replies(redis)
        theirs = await _nested_replies(other)
    finally:
        await other.aclose()
    for index, (a, b) in enumerate(zip(mine, theirs, strict=True)):
        assert _without_idle(a) == _without_idle(b), index
        assert _shape(a) == _shape(b), index


def _without_idle(value: Any) -> Any:
    """Drop the fields that tick with time (idle, inactive)."""
    if isinstance(value, dict):
        return {k: _without_idle(v) for k, v in value.items() if k not in ("idle", "inactive")}
    if isinstance(value, list):
        return [_without_idle(v) for v in value]
    return value


def _shape(value: Any) -> Any:
    """The Python types of a reply, all the way down."""
    if isinstance(value, dict):
        return ("dict", sorted((repr(k), _shape(v)) for k, v in value.items()))
    if isinstance(value, list | tuple | set):
        return (type(value).__name__, [_shape(v) for v in sorted(value, key=repr)])
    return type(value).__name__


# -- decode_responses ---------------------------------------------------------------------


async def test_decode_responses_gives_str(redis_str: Redis) -> None:
    r = redis_str
    assert await r.set("k", "v") is True
    assert await r.set("k", "w", nx=True) is None
    assert await r.get("k") == "v"
    assert await r.mget("k", "nope") == ["v", None]
    assert await r.type("k") == "string"
    assert await r.keys() == ["k"]
    assert await r.hset("h", mapping={"a": 1}) == 1
    assert await r.hgetall("h") == {"a": "1"}
    assert await r.hscan("h") == (0, {"a": "1"})
    await r.sadd("s", "x")
    assert await r.smembers("s") == {"x"}
    await r.zadd("z", {"m": 2})
    assert await r.zrange("z", 0, -1, withscores=True) == [("m", 2.0)]
    assert await r.zscore("z", "m") == 2.0
    await r.xadd("st", {"f": "v"}, id="1-0")
    assert await r.xread({"st": 0}) == [["st", [("1-0", {"f": "v"})]]]
    await r.xgroup_create("st", "g", id="0")
    await r.xreadgroup("g", "c", {"st": ">"})
    assert (await r.xpending("st", "g"))["consumers"] == [{"name": "c", "pending": 1}]
    assert (await r.xinfo_stream("st"))["first-entry"] == ("1-0", {"f": "v"})
    await r.geoadd("geo", [PALERMO])
    assert await r.geohash("geo", "Palermo") == ["sqc8b49rny0"]
    [[name, dist]] = await r.geosearch("geo", member="Palermo", radius=1, withdist=True)
    assert name == "Palermo" and dist == 0.0
    assert await r.ping() is True
    assert await r.echo("e") == "e"
    assert isinstance((await r.info("server"))["server"]["redis_version"], str)
    assert await r.script_load("return 1") == hashlib.sha1(b"return 1").hexdigest()
    assert (await r.hello())["server"] == "redis"
    assert await r.config_get("maxmemory-policy") == {
        "maxmemory-policy": (await r.config_get("maxmemory-policy"))["maxmemory-policy"]
    }
    assert await r.client_setname("str-client") is True
    assert await r.client_getname() == "str-client"
    assert await r.object_encoding("k") == "embstr"
    assert await r.blpop("q", timeout=0.05) is None
    await r.rpush("q", "x")
    assert await r.blpop("q", timeout=1) == ("q", "x")
    assert await Script(r, "return ARGV[1]")(args=["a"]) == "a"


# -- callback style -----------------------------------------------------------------------


async def test_callback_style_gets_transformed_results(redis: Redis) -> None:
    assert await via_callback(redis.set, "k", "v") == (True, None)
    assert await via_callback(redis.set, "k", "v", nx=True) == (None, None)
    assert await via_callback(redis.get, "k") == (b"v", None)
    await redis.hset("h", mapping={"a": 1})
    assert await via_callback(redis.hgetall, "h") == ({b"a": b"1"}, None)
    await redis.zadd("z", {"m": 1})
    assert await via_callback(redis.zrange, "z", 0, -1, withscores=True) == ([(b"m", 1.0)], None)
    assert await via_callback(redis.sismember, "s", "x") == (False, None)
    assert await via_callback(redis.ping) == (True, None)
    result, error = await via_callback(redis.info, "server")
    assert error is None and "redis_version" in result["server"]
    await redis.xadd("st", {"f": "v"}, id="1-0")
    assert await via_callback(redis.xread, {"st": 0}) == ([[b"st", [(b"1-0", {b"f": b"v"})]]], None)
    assert await via_callback(redis.blpop, "nothing", timeout=0.05) == (None, None)
    result, error = await via_callback(redis.hgetall, "k")
    assert result is None and isinstance(error, WrongTypeError)
    with pytest.raises(WrongTypeError):
        await redis.hgetall("k")


def test_commands_class_has_every_family() -> None:
    for name in ("get", "delete", "hgetall", "blpop", "smembers", "zrange", "xread", "pfadd"):
        assert callable(getattr(Commands, name))
    for name in ("geosearch", "evalsha", "multi", "exec", "info", "time", "hello"):
        assert callable(getattr(Commands, name))
    assert not hasattr(Commands, "_command")

"""The Lua scripts of the Redis backend. Each runs atomically on the server, so a job
moves between states exactly once however many consumers race for it.

The keys of one queue share a hash tag (``prefix:{queue}:...``), so they live in one
slot of a Redis Cluster. Per queue:

- ``jobs``     HASH   id -> payload (kept until the job is done or purged)
- ``attempts`` HASH   id -> deliveries so far; the lease token (see below)
- ``waiting``  LIST   ids ready to be taken
- ``delayed``  ZSET   id -> due time (ms, server clock)
- ``inflight`` ZSET   id -> lease deadline (ms, server clock)
- ``failed``   ZSET   id -> time it failed; ``failure`` HASH id -> JSON (error, traceback)

Taking a job moves its id from ``waiting`` to ``inflight`` and counts the attempt in the
same step, so a consumer that dies holds only a lease. Settling (ack, retry, fail,
release) checks that the caller's attempt number is still the job's: a consumer whose
lease expired (and whose job was handed to another) cannot settle the newer delivery.
Times come from the server's clock (TIME), so consumers on machines with skewed clocks
agree on what is due.
"""

from __future__ import annotations

__all__ = [
    "ACK",
    "ENQUEUE",
    "EXTEND",
    "FAIL",
    "PROMOTE",
    "PURGE_FAILED",
    "RELEASE",
    "RETRY",
    "RETRY_FAILED",
    "TAKE",
]

_NOW = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""

# KEYS: jobs, waiting, delayed.  ARGV: id, payload, delay_ms.  -> 1 stored, 0 id known
ENQUEUE = (
    """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
local delay = tonumber(ARGV[3])
if delay > 0 then
"""
    + _NOW
    + """
  redis.call('ZADD', KEYS[3], now + delay, ARGV[1])
else
  redis.call('RPUSH', KEYS[2], ARGV[1])
end
return 1
"""
)

# KEYS: waiting, inflight, attempts, jobs.  ARGV: count, lease_ms.
# -> flat list: id, attempts, payload, id, attempts, payload ...
TAKE = (
    """
local ids = redis.call('LPOP', KEYS[1], tonumber(ARGV[1]))
if not ids then return {} end
"""
    + _NOW
    + """
local deadline = now + tonumber(ARGV[2])
local out = {}
for _, id in ipairs(ids) do
  local payload = redis.call('HGET', KEYS[4], id)
  if payload then  -- an id whose job was settled meanwhile is dropped
    redis.call('ZADD', KEYS[2], deadline, id)
    out[#out + 1] = id
    out[#out + 1] = redis.call('HINCRBY', KEYS[3], id, 1)
    out[#out + 1] = payload
  end
end
return out
"""
)

# KEYS: inflight, attempts, jobs.  ARGV: id, attempt, id, attempt ...  -> acked count
ACK = """
local done = 0
for i = 1, #ARGV, 2 do
  local id = ARGV[i]
  if redis.call('HGET', KEYS[2], id) == ARGV[i + 1] then
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id)
    done = done + 1
  end
end
return done
"""

_OWNED = """
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
"""

# KEYS: inflight, attempts, delayed, waiting.  ARGV: id, attempt, delay_ms.
RETRY = (
    _OWNED
    + """
local delay = tonumber(ARGV[3])
if delay > 0 then
"""
    + _NOW
    + """
  redis.call('ZADD', KEYS[3], now + delay, ARGV[1])
else
  redis.call('RPUSH', KEYS[4], ARGV[1])
end
return 1
"""
)

# KEYS: inflight, attempts, waiting.  ARGV: id, attempt.  Back to the head, uncounted.
RELEASE = (
    _OWNED
    + """
redis.call('HINCRBY', KEYS[2], ARGV[1], -1)
redis.call('LPUSH', KEYS[3], ARGV[1])
return 1
"""
)

# KEYS: inflight, attempts, failed, failure.  ARGV: id, attempt, failure JSON.
FAIL = (
    _OWNED
    + _NOW
    + """
redis.call('ZADD', KEYS[3], now, ARGV[1])
redis.call('HSET', KEYS[4], ARGV[1], ARGV[3])
return 1
"""
)

# KEYS: inflight.  ARGV: lease_ms, id, id ...  Pushes the deadlines of leases still held.
EXTEND = (
    _NOW
    + """
local deadline = now + tonumber(ARGV[1])
local args = {'ZADD', KEYS[1], 'XX', 'CH'}
for i = 2, #ARGV do
  args[#args + 1] = deadline
  args[#args + 1] = ARGV[i]
end
if #args == 4 then return 0 end
return redis.call(unpack(args))
"""
)

# KEYS: delayed, waiting, inflight.  ARGV: limit.
# -> {due jobs moved, expired leases moved back, ms until the next delayed job or -1}
PROMOTE = (
    _NOW
    + """
local limit = tonumber(ARGV[1])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, limit)
if #due > 0 then
  redis.call('ZREM', KEYS[1], unpack(due))
  redis.call('RPUSH', KEYS[2], unpack(due))
end
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, limit)
if #expired > 0 then
  redis.call('ZREM', KEYS[3], unpack(expired))
  redis.call('LPUSH', KEYS[2], unpack(expired))
end
local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local wait = -1
if nxt[2] then wait = math.max(0, tonumber(nxt[2]) - now) end
return {#due, #expired, wait}
"""
)

# KEYS: failed, failure, attempts, waiting.  ARGV: ids (none: every failed job).
RETRY_FAILED = """
local ids = ARGV
if #ids == 0 then ids = redis.call('ZRANGE', KEYS[1], 0, -1) end
local moved = 0
for _, id in ipairs(ids) do
  if redis.call('ZREM', KEYS[1], id) == 1 then
    redis.call('HDEL', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id)
    redis.call('RPUSH', KEYS[4], id)
    moved = moved + 1
  end
end
return moved
"""

# KEYS: failed, failure, attempts, jobs.  ARGV: ids (none: every failed job).
PURGE_FAILED = """
local ids = ARGV
if #ids == 0 then ids = redis.call('ZRANGE', KEYS[1], 0, -1) end
local gone = 0
for _, id in ipairs(ids) do
  if redis.call('ZREM', KEYS[1], id) == 1 then
    redis.call('HDEL', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id)
    redis.call('HDEL', KEYS[4], id)
    gone = gone + 1
  end
end
return gone
"""

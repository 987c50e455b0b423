"""The Lua that runs in Redis: routing a send to the nodes that hold its target, counting
across live nodes, the heartbeat and session edits. Each runs atomically, in one round trip.

Every script reads the live nodes from ``<prefix>nodes`` by Redis's own clock (TIME), so the
nodes' clocks never matter. Keys are built inside the scripts from the prefix: this needs a
single Redis (or a primary with replicas), not Redis Cluster.
"""

from __future__ import annotations

__all__ = ["HEARTBEAT", "QUERY", "ROUTE_ALL", "ROUTE_UIDS", "SESSION"]

_LIVE = """
local p = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local nodes = redis.call('ZRANGEBYSCORE', p .. 'nodes', '(' .. now, '+inf')
"""

# ARGV: prefix, node, ttl_ms. Returns 1 when the node's keys were still there, 0 when they
# had gone (expired, or Redis restarted empty): then the node writes its state again.
HEARTBEAT = """
local p, node, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local base = p .. 'node:' .. node
local alive = redis.call('PEXPIRE', base, ttl)
for _, suffix in ipairs({':c', ':u', ':g', ':b'}) do
  redis.call('PEXPIRE', base .. suffix, ttl)
end
redis.call('ZADD', p .. 'nodes', now + ttl, node)
redis.call('ZREMRANGEBYSCORE', p .. 'nodes', '-inf', now)
return alive
"""

# ARGV: prefix, payload, uid... Publishes the payload once to each live node holding any of
# the uids; returns how many nodes got it.
ROUTE_UIDS = (
    _LIVE
    + """
local reached = 0
for _, node in ipairs(nodes) do
  local key = p .. 'node:' .. node .. ':u'
  for i = 3, #ARGV do
    if redis.call('HEXISTS', key, ARGV[i]) == 1 then
      reached = reached + redis.call('PUBLISH', p .. 'ch:' .. node, ARGV[2])
      break
    end
  end
end
return reached
"""
)

# ARGV: prefix, payload. To every live node's channel.
ROUTE_ALL = (
    _LIVE
    + """
local reached = 0
for _, node in ipairs(nodes) do
  reached = reached + redis.call('PUBLISH', p .. 'ch:' .. node, ARGV[2])
end
return reached
"""
)

# ARGV: prefix, what, [argument]. Answers about the whole cluster.
QUERY = (
    _LIVE
    + """
local what, arg = ARGV[2], ARGV[3]
if what == 'nodes' then
  return nodes
elseif what == 'clients' then
  local n = 0
  for _, node in ipairs(nodes) do n = n + redis.call('HLEN', p .. 'node:' .. node .. ':c') end
  return n
elseif what == 'uids' or what == 'groups' then
  local suffix = (what == 'uids') and ':u' or ':g'
  local seen, out = {}, {}
  for _, node in ipairs(nodes) do
    for _, name in ipairs(redis.call('HKEYS', p .. 'node:' .. node .. suffix)) do
      if not seen[name] then seen[name] = true; out[#out + 1] = name end
    end
  end
  return out
elseif what == 'uid_online' then
  for _, node in ipairs(nodes) do
    if redis.call('HEXISTS', p .. 'node:' .. node .. ':u', arg) == 1 then return 1 end
  end
  return 0
elseif what == 'uid_clients' then
  local out = {}
  for _, node in ipairs(nodes) do
    local ids = redis.call('HGET', p .. 'node:' .. node .. ':u', arg)
    if ids then
      for id in string.gmatch(ids, '%S+') do out[#out + 1] = id end
    end
  end
  return out
elseif what == 'group_count' then
  local n = 0
  for _, node in ipairs(nodes) do
    n = n + tonumber(redis.call('HGET', p .. 'node:' .. node .. ':g', arg) or '0')
  end
  return n
end
return redis.error_reply('ERR unknown query ' .. tostring(what))
"""
)

# ARGV: prefix, node, client id, mode (set|update|get), JSON object, max bytes. Set or merge
# the session of a client that exists; returns the session after (JSON), or false.
SESSION = """
local key = ARGV[1] .. 'node:' .. ARGV[2] .. ':c'
local current = redis.call('HGET', key, ARGV[3])
if not current then return false end
local mode = ARGV[4]
if mode == 'get' then return current end
local value = ARGV[5]
if mode == 'update' then
  local merged = cjson.decode(current)
  for k, v in pairs(cjson.decode(value)) do merged[k] = v end
  value = cjson.encode(merged)
end
if #value > tonumber(ARGV[6]) then
  return redis.error_reply('ERR session over ' .. ARGV[6] .. ' bytes')
end
redis.call('HSET', key, ARGV[3], value)
return value
"""

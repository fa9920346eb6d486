-- Free the capacity tickets hold, in one step; idempotent.
-- KEYS: 1 the change counter, then two per ticket: its holder, its holder channel
-- ARGV: 1 the agents key prefix ('<p>:{agents}:'), 2.. the tickets, in KEYS order
-- Returns per ticket the agent that held it, or '' when nothing was held.
-- Counts one change when anything was freed, so the waiting line is walked for the seats.
--
-- Undeclared keys: the load set '<prefix>load:<agent>:<channel>' of each holder. Which
-- agent and channel is known only here, from the holder keys; reading them first would
-- cost a round trip and a race. It carries the hash tag {agents} of the declared keys:
-- the script stays in one slot, on Redis Cluster too.
local prefix, out, freed = ARGV[1], {}, false
for t = 1, #ARGV - 1 do
  local holder_key, channel_key = KEYS[2 * t], KEYS[2 * t + 1]
  local held = redis.call('GET', holder_key)
  if held then
    local channel = redis.call('GET', channel_key) or ''
    redis.call('SREM', prefix .. 'load:' .. held .. ':' .. channel, ARGV[t + 1])
    redis.call('DEL', holder_key, channel_key)
    freed = true
  end
  out[t] = held or ''
end
if freed then redis.call('INCR', KEYS[1]) end
return out

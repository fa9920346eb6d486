-- Free the capacity tickets hold, in one step; idempotent.
-- The holders are read first (agents.py: one MGET) because the load set to free is named
-- by the holder: every key touched is declared, so on Redis Cluster a slot being moved
-- is redirected or retried by the client, never half-applied by the script.
-- KEYS: 1 the change counter, then three per ticket: its holder, its holder channel, and
--       the load set '<p>:{agents}:load:<holder>:<channel>' of the holder read (for a
--       ticket read as not held: its holder key again, not touched)
-- ARGV: three per ticket, in KEYS order: the ticket, the holder read and its channel
--       ('' for none)
-- Returns {'ok', holders}: per ticket the agent that held it, '' when nothing was held;
-- counts one change when anything was freed, so the waiting line is walked for the seats.
-- Returns {'stale', values} and changes nothing when any holder or channel is no longer
-- what was read (a claim or release in between): values are the holder and channel of
-- each ticket now ('' for none), to call again with.
local stale, now = false, {}
for t = 0, #ARGV / 3 - 1 do
  local holder = redis.call('GET', KEYS[2 + 3 * t]) or ''
  local channel = redis.call('GET', KEYS[3 + 3 * t]) or ''
  if holder ~= ARGV[2 + 3 * t] or (holder ~= '' and channel ~= ARGV[3 + 3 * t]) then
    stale = true
  end
  now[#now + 1] = holder
  now[#now + 1] = channel
end
if stale then return {'stale', now} end
local out, freed = {}, false
for t = 0, #ARGV / 3 - 1 do
  local held = ARGV[2 + 3 * t]
  if held ~= '' then
    redis.call('SREM', KEYS[4 + 3 * t], ARGV[1 + 3 * t])
    redis.call('DEL', KEYS[2 + 3 * t], KEYS[3 + 3 * t])
    freed = true
  end
  out[#out + 1] = held
end
if freed then redis.call('INCR', KEYS[1]) end
return {'ok', out}

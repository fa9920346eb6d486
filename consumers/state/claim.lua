-- Claim tickets' capacity with the agents chosen for them, in one atomic step.
-- The choice is made outside (choose_agent in consumers/domain/assignment.py) on a read
-- that may be stale by now, so each claim checks again what must hold at this instant.
-- KEYS: 1 the online set, then five per claim: the ticket's holder, its holder channel,
--       the agent's load set on the channel, the agent's hash, the queue's rr pointer
-- ARGV: six per claim: ticket, agent, channel, default capacity for the channel, now
--       (epoch seconds: the agent is busy since), force ('1': a rule named the agent, so
--       its seat is counted whether it is online or full; '0': checked)
-- Returns per claim {outcome, agent}:
--   'held'     the ticket is held already (a retry, or another claimer won): its holder
--   'offline'  the agent went offline since the read
--   'full'     the agent has no free seat left on the channel
--   'claimed'  the agent now holds the ticket: load, holder, channel and pointer recorded
-- Claims run in order: a later one sees what the earlier ones recorded.
local out = {}
for c = 0, #ARGV / 6 - 1 do
  local k, a = 1 + 5 * c, 6 * c
  local ticket, agent, channel = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local force = ARGV[a + 6] == '1'
  local held = redis.call('GET', KEYS[k + 1])
  if held then
    out[#out + 1] = {'held', held}
  elseif not force and redis.call('SISMEMBER', KEYS[1], agent) == 0 then
    out[#out + 1] = {'offline', agent}
  else
    local stated = cjson.decode(redis.call('HGET', KEYS[k + 4], 'capacity') or '{}')
    local capacity = tonumber(stated[channel] or ARGV[a + 4])
    if not force and redis.call('SCARD', KEYS[k + 3]) >= capacity then
      out[#out + 1] = {'full', agent}
    else
      redis.call('SADD', KEYS[k + 3], ticket)
      redis.call('SET', KEYS[k + 1], agent)
      redis.call('SET', KEYS[k + 2], channel)
      redis.call('HSET', KEYS[k + 4], 'idle_since', ARGV[a + 5])
      if not force then redis.call('SET', KEYS[k + 5], agent) end
      out[#out + 1] = {'claimed', agent}
    end
  end
end
return out

-- Claim tickets' capacity with the agents chosen for them, in one atomic step.
-- The choice is made outside (choose_agent in consumers/domain/assignment.py) on a read
-- that may be stale by now, so each claim checks again what must hold at this instant.
-- KEYS: 1 the online set, then five per claim: the ticket's holder, its holder channel,
--       the agent's load set on the channel, the agent's hash, the queue's rr pointer
-- ARGV: six per claim: ticket, agent, channel, default capacity for the channel, now
--       (epoch seconds: the agent is busy since), and the check:
--         '0'      the agent must be online with a free seat (the line's own offer)
--         '1'      counted whether online or full (a rule named the agent, or work they
--                  accepted: their load must show it)
--         'online' counted whether full or not, but only while the agent is online (an
--                  offer they had not accepted, seen again at a reopen: 'offline' when
--                  they left meanwhile, for the offer to be withdrawn); an agent with no
--                  presence recorded at all (a state rebuild starts without any) is
--                  counted as with '1': nobody said they left
-- Returns per claim {outcome, agent}:
--   'held'     the ticket is held already (a retry, or another claimer won): its holder
--   'offline'  the agent is not online (went away or offline since the read)
--   'full'     the agent has no free seat left on the channel
--   'claimed'  the agent now holds the ticket: load, holder, channel and pointer recorded
-- Claims run in order: a later one sees what the earlier ones recorded.
local out = {}
for c = 0, #ARGV / 6 - 1 do
  local k, a = 1 + 5 * c, 6 * c
  local ticket, agent, channel = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local check = ARGV[a + 6]
  local held = redis.call('GET', KEYS[k + 1])
  if check == 'online' and not redis.call('HGET', KEYS[k + 4], 'status') then
    check = '1'
  end
  if held then
    out[#out + 1] = {'held', held}
  elseif check ~= '1' and redis.call('SISMEMBER', KEYS[1], agent) == 0 then
    out[#out + 1] = {'offline', agent}
  else
    local stated = cjson.decode(redis.call('HGET', KEYS[k + 4], 'capacity') or '{}')
    local capacity = tonumber(stated[channel] or ARGV[a + 4])
    if check == '0' and redis.call('SCARD', KEYS[k + 3]) >= capacity then
      out[#out + 1] = {'full', agent}
    else
      redis.call('SADD', KEYS[k + 3], ticket)
      redis.call('SET', KEYS[k + 1], agent)
      redis.call('SET', KEYS[k + 2], channel)
      redis.call('HSET', KEYS[k + 4], 'idle_since', ARGV[a + 5])
      if check == '0' then redis.call('SET', KEYS[k + 5], agent) end
      out[#out + 1] = {'claimed', agent}
    end
  end
end
return out

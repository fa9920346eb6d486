-- Set away, in one step, the agents who let an offer time out (the accept timeout): as
-- an 'agent.presence' with status away would (AgentStore.presence), but only for an agent
-- still online, so an agent who went offline meanwhile stays offline and one away already
-- gets no second departure. Their next 'agent.presence' sets their status again.
-- KEYS: 1 the online set, 2 the departures hash, 3 the changes counter, then each
--       agent's hash
-- ARGV: pairs of agent, departure marker ('away <unique>', one per departure)
-- Returns the agents set away.
local out = {}
for i = 1, #ARGV, 2 do
  local agent = ARGV[i]
  if redis.call('SISMEMBER', KEYS[1], agent) == 1 then
    redis.call('HSET', KEYS[3 + (i + 1) / 2], 'status', 'away')
    redis.call('SREM', KEYS[1], agent)
    redis.call('HSET', KEYS[2], agent, ARGV[i + 1])
    out[#out + 1] = agent
  end
end
if #out > 0 then redis.call('INCR', KEYS[3]) end
return out

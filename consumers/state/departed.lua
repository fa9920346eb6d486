-- Forget the departures the sweep has dealt with (offers withdrawn, or, for an agent
-- online again, a withdrawal done before a crash published), in one step.
-- KEYS: 1 the departures hash (agent -> 'status marker', see AgentStore.presence)
-- ARGV: pairs of agent, the value the sweep read. An entry written since (the agent
--       came back and left again, maybe with new offers) is kept for the next sweep.
-- Returns how many were forgotten.
local forgotten = 0
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
    forgotten = forgotten + 1
  end
end
return forgotten

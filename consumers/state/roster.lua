-- Read, in one step, what the choice of assignee needs (consumers/domain/assignment.py).
-- Read-only.
-- KEYS: 1 the online set; 2.. keys read as they are (GET): the holders of the tickets to
--       place and the round-robin pointers of their queues
-- ARGV: 1 the agents key prefix ('<p>:{agents}:'), 2.. the channels whose load to count
-- Returns {agents, values}: each online agent as {id, skills JSON, capacity JSON, idle
-- since (epoch seconds), then its load on each ARGV channel}, '' for a field never set;
-- values: KEYS[2..], '' when unset.
--
-- Undeclared keys: each online agent's hash '<prefix>agent:<id>' and load sets
-- '<prefix>load:<id>:<channel>'. They are many and known only once the online set is
-- read, so declaring them would cost one more round trip for every assignment. All of
-- them carry the hash tag {agents} of KEYS[1]: the script stays in one slot, on Redis
-- Cluster too.
local prefix = ARGV[1]
local agents = {}
for _, agent in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local profile = redis.call('HMGET', prefix .. 'agent:' .. agent, 'skills', 'capacity', 'idle_since')
  local row = {agent, profile[1] or '', profile[2] or '', profile[3] or ''}
  for i = 2, #ARGV do
    row[#row + 1] = redis.call('SCARD', prefix .. 'load:' .. agent .. ':' .. ARGV[i])
  end
  agents[#agents + 1] = row
end
local values = {}
for i = 2, #KEYS do
  values[#values + 1] = redis.call('GET', KEYS[i]) or ''
end
return {agents, values}

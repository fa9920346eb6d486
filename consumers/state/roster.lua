-- Read, in one step, what the choice of assignee needs (consumers/domain/assignment.py).
-- Read-only. Every key read is declared, so on Redis Cluster a slot being moved is
-- redirected or retried by the client: the online agents' keys are passed for the agents
-- the caller last saw online, and checked against the online set here.
-- KEYS: 1 the online set; 2..1+ARGV[1] keys read as they are (GET): the holders of the
--       tickets to place and the round-robin pointers of their queues; then per agent
--       expected online (ARGV[4..]): its hash, then its load set on each of ARGV[2]
--       channels
-- ARGV: 1 how many keys to GET, 2 how many channels to count, 3 '1' to read the agents
--       also when the online set is not the one expected (the caller's last try), else
--       '0', 4.. the agents expected online (each once)
-- Returns {'ok', agents, values, {}}: each online agent as {id, skills JSON, capacity
-- JSON, idle since (epoch seconds), then its load on each channel}, '' for a field never
-- set; values: the GET keys' values, '' when unset.
-- Returns {'stale', agents, values, members} when the online set is not the agents
-- expected: the set's members, to call again with; agents and values are empty unless
-- ARGV[3] is '1', then the agents expected that are still online, read as above (after a
-- few calls under a login storm, the caller takes those: the agents who came online
-- meanwhile wait for the next read).
local gets, channels = tonumber(ARGV[1]), tonumber(ARGV[2])
local partial = ARGV[3] == '1'
local expected = #ARGV - 3
local same = redis.call('SCARD', KEYS[1]) == expected
for i = 4, #ARGV do
  if not same then break end
  same = redis.call('SISMEMBER', KEYS[1], ARGV[i]) == 1
end
if not same and not partial then
  return {'stale', {}, {}, redis.call('SMEMBERS', KEYS[1])}
end
local agents = {}
for i = 0, expected - 1 do
  local agent = ARGV[4 + i]
  if same or redis.call('SISMEMBER', KEYS[1], agent) == 1 then
    local k = 2 + gets + i * (1 + channels)
    local profile = redis.call('HMGET', KEYS[k], 'skills', 'capacity', 'idle_since')
    local row = {agent, profile[1] or '', profile[2] or '', profile[3] or ''}
    for c = 1, channels do
      row[#row + 1] = redis.call('SCARD', KEYS[k + c])
    end
    agents[#agents + 1] = row
  end
end
local values = {}
for i = 2, 1 + gets do
  values[#values + 1] = redis.call('GET', KEYS[i]) or ''
end
if same then return {'ok', agents, values, {}} end
return {'stale', agents, values, redis.call('SMEMBERS', KEYS[1])}

-- Put members of the waiting line where their tickets are now, in one step.
-- KEYS: 1 the line (member -> score), 2 needs (member -> 'channel|queue'),
--       3 how many members wait with each needs, 4 the recheck set (member -> score)
-- ARGV: groups of four: member, needs ('' = leaves the line), score, and '1' to recheck
--       it even when its needs did not change (a ticket not announced yet)
-- A member is marked for a recheck when it joins or its needs change, so a crash after
-- this step cannot lose the offer it calls for.
for i = 1, #ARGV, 4 do
  local member, need, score, force = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local old = redis.call('HGET', KEYS[2], member)
  if old ~= need then
    if old and redis.call('HINCRBY', KEYS[3], old, -1) <= 0 then
      redis.call('HDEL', KEYS[3], old)
    end
    if need == '' then
      redis.call('HDEL', KEYS[2], member)
    else
      redis.call('HSET', KEYS[2], member, need)
      redis.call('HINCRBY', KEYS[3], need, 1)
    end
  end
  if need == '' then
    redis.call('ZREM', KEYS[1], member)
    redis.call('ZREM', KEYS[4], member)
  else
    redis.call('ZADD', KEYS[1], score, member)
    if old ~= need or force == '1' then
      redis.call('ZADD', KEYS[4], score, member)
    end
  end
end
return #ARGV / 4

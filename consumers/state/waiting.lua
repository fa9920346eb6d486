-- Put members of the waiting line where their tickets are now, in one step.
-- A member is marked for a recheck when it joins or its needs change, so a crash after
-- this step cannot lose the offer it calls for.
--
-- KEYS
--   1 line     sorted set: member -> score
--   2 needs    hash: member -> 'channel|queue'
--   3 counts   hash: 'channel|queue' -> how many members wait with it
--   4 recheck  sorted set: members to offer at the next sweep -> score
-- ARGV, groups of four:
--   member     'ticket|round'
--   mode       'leave'   (the member leaves the line; needs and score are not read)
--              'place'   (in line with these needs and score; rechecked if it joins or
--                         its needs change)
--              'recheck' (as 'place', and rechecked anyway: a ticket not announced yet)
--   needs      'channel|queue' (with 'place' and 'recheck')
--   score      the place in line (with 'place' and 'recheck')
-- Returns how many members it placed or removed.
for i = 1, #ARGV, 4 do
  local member, mode, need, score = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local old = redis.call('HGET', KEYS[2], member)
  if mode == 'leave' then
    if old then
      if redis.call('HINCRBY', KEYS[3], old, -1) <= 0 then redis.call('HDEL', KEYS[3], old) end
      redis.call('HDEL', KEYS[2], member)
    end
    redis.call('ZREM', KEYS[1], member)
    redis.call('ZREM', KEYS[4], member)
  else
    if old ~= need then
      if old and redis.call('HINCRBY', KEYS[3], old, -1) <= 0 then
        redis.call('HDEL', KEYS[3], old)
      end
      redis.call('HSET', KEYS[2], member, need)
      redis.call('HINCRBY', KEYS[3], need, 1)
    end
    redis.call('ZADD', KEYS[1], score, member)
    if old ~= need or mode == 'recheck' then redis.call('ZADD', KEYS[4], score, member) end
  end
end
return #ARGV / 4

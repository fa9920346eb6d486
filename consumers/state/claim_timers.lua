-- Claim the due timers of one shard for the caller, so that two timers processes never
-- work the same timer at once. A claim lapses: a process that died holding one leaves
-- the timer to whoever claims after the lapse (its event id makes firing it idempotent).
--
-- KEYS
--   1 schedule  sorted set: 'ticket|target|kind' -> due (epoch seconds)
--   2 claims    sorted set: claimed member -> when its claim lapses
-- ARGV
--   1 now       epoch seconds
--   2 limit     claim at most this many
--   3 lapse     when the claims made now lapse (epoch seconds)
-- Returns member, due, member, due, ... earliest first (due as the schedule scores it).
--
-- A ticket's timers fire in due order: a timer of a ticket whose earlier timer is claimed
-- by someone else waits until that one settles (or its claim lapses and it is claimed
-- here). Otherwise a process that died between committing a warning and publishing it
-- would see the breach fired and published first, and the ticket's records would go
-- out of order, its last snapshot older than its state.
local now, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
local out, offset, waiting = {}, 0, {}
while #out < 2 * limit do
  local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', offset, limit)
  if #due == 0 then break end
  for i = 1, #due, 2 do
    local ticket = string.match(due[i], '^[^|]*')
    if waiting[ticket] then
      -- an earlier timer of this ticket is being worked elsewhere
    elseif redis.call('ZSCORE', KEYS[2], due[i]) then
      waiting[ticket] = true
    else
      redis.call('ZADD', KEYS[2], ARGV[3], due[i])
      out[#out + 1] = due[i]
      out[#out + 1] = due[i + 1]
      if #out >= 2 * limit then break end
    end
  end
  offset = offset + limit
end
return out

-- Make the parked deliveries of one medium due now, in the order they were first parked
-- (consumers/state/notifications.py, RetrySchedule.hurry): the provider took one again,
-- so the backlog need not wait out each one's backoff.
--
-- KEYS
--   1 schedule  sorted set: delivery id -> due (epoch seconds)
--   2 claims    sorted set: claimed delivery id -> when its claim lapses
--   3 medium    sorted set: delivery id of this medium -> when it was first parked
-- ARGV
--   1 now       epoch seconds
-- A delivery claimed now is left alone (its settle moves it by the due time it was
-- claimed with); one no longer scheduled leaves the medium's index.
-- Returns how many deliveries it made due.
local now = tonumber(ARGV[1])
local parked = redis.call('ZRANGE', KEYS[3], 0, -1, 'WITHSCORES')
local moved = 0
for i = 1, #parked, 2 do
  local member, at = parked[i], parked[i + 1]
  local due = redis.call('ZSCORE', KEYS[1], member)
  if not due then
    redis.call('ZREM', KEYS[3], member)
  elseif tonumber(due) > now and not redis.call('ZSCORE', KEYS[2], member) then
    if tonumber(at) > now then at = ARGV[1] end
    redis.call('ZADD', KEYS[1], at, member)
    moved = moved + 1
  end
end
return moved

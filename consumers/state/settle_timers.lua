-- Settle claimed timers of one shard: drop those that fired or went stale, move the
-- postponed ones, and let go of every claim. Only the due time that was claimed is
-- dropped or moved: a member the ticket's latest snapshot scheduled anew meanwhile keeps
-- its new time.
--
-- KEYS
--   1 schedule  sorted set: 'ticket|target|kind' -> due (epoch seconds)
--   2 claims    sorted set: claimed member -> when its claim lapses
-- ARGV, groups of three:
--   member      'ticket|target|kind'
--   claimed     the due time it was claimed with
--   then        'gone' (drop it), 'keep' (leave it, to be claimed again) or a new due time
-- Returns how many members it settled.
for i = 1, #ARGV, 3 do
  local member, claimed, after = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local due = redis.call('ZSCORE', KEYS[1], member)
  if due and tonumber(due) == tonumber(claimed) then
    if after == 'gone' then
      redis.call('ZREM', KEYS[1], member)
    elseif after ~= 'keep' then
      redis.call('ZADD', KEYS[1], after, member)
    end
  end
  redis.call('ZREM', KEYS[2], member)
end
return #ARGV / 3

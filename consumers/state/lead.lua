-- Who sweeps the waiting line: one timers process at a time, so that two never offer the
-- same ticket at once (each would publish its outcome). The holder renews its hold at
-- every sweep; a process that died leaves the line to the next one when its hold lapses.
--
-- KEYS
--   1 sweeper  string: the process that holds the line
-- ARGV
--   1 owner    the asking process
--   2 mode     'hold' (take or renew the hold) or 'resign' (let go, if held)
--   3 hold_ms  how long a hold lasts without renewal (with 'hold')
-- Returns 1 when the asking process holds the line (with 'hold'), else 0.
local holder = redis.call('GET', KEYS[1])
if ARGV[2] == 'resign' then
  if holder == ARGV[1] then redis.call('DEL', KEYS[1]) end
  return 0
end
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1

-- Which metric windows changed since they were last published, and how often: a hash of
-- window -> change mark, one more at every change. A flush clears a window only if its
-- mark is still the one it read (compare-and-delete), so a change another process made
-- while it published stays marked and goes out at the next flush.
--
-- KEYS
--   1 dirty  hash: window (metric key) -> change mark. Earlier versions kept a set here:
--            it is turned into the hash first (each member marked once), by any mode.
-- ARGV
--   1 mode   'mark'  (ARGV 2..: windows that changed: one more mark each)
--            'read'  (the windows and their marks)
--            'clear' (ARGV 2..: window, mark, window, mark...: each window whose mark is
--                     still the one given is no longer dirty)
-- Returns with 'read' the hash (HGETALL), else how many windows it marked or cleared.
if redis.call('TYPE', KEYS[1]).ok == 'set' then
  local members = redis.call('SMEMBERS', KEYS[1])
  redis.call('DEL', KEYS[1])
  for _, window in ipairs(members) do redis.call('HSET', KEYS[1], window, 1) end
end
local mode = ARGV[1]
if mode == 'read' then return redis.call('HGETALL', KEYS[1]) end
local done = 0
if mode == 'mark' then
  for i = 2, #ARGV do
    redis.call('HINCRBY', KEYS[1], ARGV[i], 1)
    done = done + 1
  end
  return done
end
for i = 2, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
    done = done + 1
  end
end
return done

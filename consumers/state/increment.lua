-- Add to one counter of a metric window, once per (event, counter): a redelivered event
-- finds its marker and adds nothing.
--
-- KEYS
--   1 window  hash of the window: counter fields, 'meta', 'd:<definition>' fields,
--             'changes' (how many increments it took: a redelivery adds none, so the
--             flush can tell a window that did not change, see bump.lua)
--   2 marker  dedupe marker of (window, event, counter), in the window's slot
-- ARGV
--   1 field       the counter's field in the window ('c:<counter>', see counters.py)
--   2 amount      integer to add
--   3 ttl         seconds the marker and the window live
--   4 meta        the window's metric, dimensions, start and definition hash (JSON): the
--                 last counted event's, so a window counted across a rules reload names
--                 the definition it was last counted under
--   5 definition  the hash of the definition the event was counted under ('' for none):
--                 kept as a 'd:<hash>' field, so the window knows every one it mixes
-- Returns 1 when it added, 0 when the marker was there (a duplicate).
if not redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[3]) then return 0 end
redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
redis.call('HINCRBY', KEYS[1], 'changes', 1)
redis.call('HSET', KEYS[1], 'meta', ARGV[4])
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'd:' .. ARGV[5], '1') end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1

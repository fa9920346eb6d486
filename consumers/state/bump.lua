-- Give a metric window its next revision before it is published, so every record of a
-- window on the compacted topic has a higher revision than the one it replaces.
--
-- KEYS
--   1 window  hash of the window: counter fields, 'meta', 'revision', 'final'
-- ARGV
--   1 mode    'revise' (one more revision) | 'finalize' (one more, marked final: its
--             allowed lateness has passed)
-- Returns the window's fields and values after the change (HGETALL), or an empty list
-- when the window expired (no 'meta' left): nothing to publish, and nothing is created.
if redis.call('HEXISTS', KEYS[1], 'meta') == 0 then return {} end
redis.call('HINCRBY', KEYS[1], 'revision', 1)
if ARGV[1] == 'finalize' then redis.call('HSET', KEYS[1], 'final', '1') end
return redis.call('HGETALL', KEYS[1])

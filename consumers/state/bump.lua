-- Give a metric window its next revision before it is published, so every record of a
-- window on the compacted topic has a higher revision than the one it replaces; or, after
-- the record was acknowledged, note which change it showed.
--
-- KEYS
--   1 window  hash of the window: counter fields, 'meta', 'revision', 'final',
--             'changes' (see increment.lua), 'sent' (the 'changes' last acknowledged)
-- ARGV
--   1 mode    'revise' (one more revision) | 'finalize' (one more, marked final: its
--             allowed lateness has passed) | 'sent' (ARGV 2 went out)
--   2 changes for 'sent': the window's 'changes' as the acknowledged record showed them
-- Returns the window's fields and values after the change (HGETALL); an empty list when
-- the window expired (no 'meta' left: nothing to publish, and nothing is created); or
-- {'unchanged'} when the record last acknowledged already shows what it holds, final if
-- asked to finalize: a redelivered event, which changes no count, gets no new revision.
if redis.call('HEXISTS', KEYS[1], 'meta') == 0 then return {} end
local changes = redis.call('HGET', KEYS[1], 'changes') or '0'
if ARGV[1] == 'sent' then
  redis.call('HSET', KEYS[1], 'sent', ARGV[2])
  return {}
end
local sent = redis.call('HGET', KEYS[1], 'sent')
local final = redis.call('HGET', KEYS[1], 'final') == '1'
if sent == changes and (ARGV[1] ~= 'finalize' or final) then return {'unchanged'} end
redis.call('HINCRBY', KEYS[1], 'revision', 1)
if ARGV[1] == 'finalize' then redis.call('HSET', KEYS[1], 'final', '1') end
return redis.call('HGETALL', KEYS[1])

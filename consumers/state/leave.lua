-- Take a forgotten customer out of a ticket of another customer they wrote on (``forget``):
-- the ticket stays its owner's, rewritten without them, and the reply index loses their
-- message ids. Guarded by the ticket's version, as ``commit.lua``: a router commit that
-- read the ticket before gets CONFLICT and reads it again.
--
-- KEYS
--   1 ticket_data    the owner's hash: <ticket>:v, <ticket>:json, <ticket>:message
--   2 message_index  the owner's message id -> ticket
-- ARGV
--   1 ticket_id
--   2 expected       the version read with the snapshot
--   3 ticket_json    the snapshot without them; '' to leave the snapshot as it is
--   4 message_mode   'drop' (the kept last message is theirs) | 'keep'
--   5.. their message ids, to take out of the reply index
-- Returns 1, or 0 when the version moved (nothing changes: read it again).
local tid = ARGV[1]
local current = tonumber(redis.call('HGET', KEYS[1], tid .. ':v') or '0')
if current ~= tonumber(ARGV[2]) then return 0 end
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[1], tid .. ':v', current + 1, tid .. ':json', ARGV[3])
end
if ARGV[4] == 'drop' then redis.call('HDEL', KEYS[1], tid .. ':message') end
for i = 5, #ARGV do redis.call('HDEL', KEYS[2], ARGV[i]) end
return 1

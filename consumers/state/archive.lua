-- Archive a closed ticket whose retention has passed (``ThreadErasure.archive``): its
-- fields leave its owner's hash, with every reply index entry and the current-ticket
-- pointer that still name it, and its id joins the owner's archived set. Guarded by the
-- ticket's version, as ``commit.lua``: a change since it was read (feedback on the closed
-- ticket) keeps it, for a later archive.
--
-- KEYS
--   1 ticket_data    the owner's hash: <ticket>:v, <ticket>:json, <ticket>:message
--   2 message_index  the owner's message id -> ticket
--   3 open           the owner's current ticket
--   4 archived       the owner's archived ticket ids (what ``forget`` erases on the topic)
-- ARGV
--   1 ticket_id
--   2 expected       the version read with the snapshot
-- Returns the message ids the index held for the ticket (their global entries go next),
-- or false when the version moved (nothing changes).
local tid = ARGV[1]
local current = tonumber(redis.call('HGET', KEYS[1], tid .. ':v') or '0')
if current ~= tonumber(ARGV[2]) then return false end
redis.call('HDEL', KEYS[1], tid .. ':v', tid .. ':json', tid .. ':message')
-- every entry naming the ticket: the snapshot keeps only the latest message ids, and the
-- notifier files its own auto-replies' ids here too
local gone = {}
local index = redis.call('HGETALL', KEYS[2])
for i = 1, #index, 2 do
  if index[i + 1] == tid then gone[#gone + 1] = index[i] end
end
for i = 1, #gone do redis.call('HDEL', KEYS[2], gone[i]) end
if redis.call('GET', KEYS[3]) == tid then redis.call('DEL', KEYS[3]) end
redis.call('SADD', KEYS[4], tid)
return gone

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
--   3...             message ids the index named the ticket by when it was scanned
-- Returns the message ids the index held for the ticket (their global entries go next),
-- or false when the version moved (nothing changes).
local tid = ARGV[1]
local current = tonumber(redis.call('HGET', KEYS[1], tid .. ':v') or '0')
if current ~= tonumber(ARGV[2]) then return false end
redis.call('HDEL', KEYS[1], tid .. ':v', tid .. ':json', tid .. ':message')
-- the entries naming the ticket, as the caller found them with HSCAN (the snapshot keeps
-- only the latest message ids, and the notifier files its own auto-replies' ids here
-- too): each that still names it. Not HGETALL here: a customer with thousands of
-- messages indexed held Redis for everyone for tens of milliseconds per archive.
local gone = {}
for i = 3, #ARGV do
  if redis.call('HGET', KEYS[2], ARGV[i]) == tid then
    redis.call('HDEL', KEYS[2], ARGV[i])
    gone[#gone + 1] = ARGV[i]
  end
end
if redis.call('GET', KEYS[3]) == tid then redis.call('DEL', KEYS[3]) end
redis.call('SADD', KEYS[4], tid)
return gone

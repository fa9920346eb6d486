-- Apply one routed event to a customer's threads, all at once: the ticket, its last
-- customer message, the reply index, the open-ticket pointer, the dedupe marker and the
-- outbox. A crash before it changes nothing; after it, the outbox is published again.
--
-- KEYS
--   1 ticket_data    hash: <ticket>:v, <ticket>:json, <ticket>:message (router/keys.py)
--   2 done           dedupe marker of this event
--   3 outbox         this event's records still to publish
--   4 open_ticket    the customer's open ticket
--   5 message_index  message id -> ticket
--   6 publishing     the writer whose records of this ticket are not acked yet
-- ARGV
--   1 ttl            seconds the dedupe marker and the outbox live
--   2 ticket_mode    'write' (store the ticket) | 'none' (the event changes no ticket)
--   3 ticket_id      with 'write'
--   4 expected       with 'write': the version read before deciding (0: a new ticket)
--   5 ticket_json    with 'write'
--   6 message_mode   'keep' | 'replace' (with 'write' only)
--   7 message_json   with 'replace'
--   8 open_mode      'keep' | 'clear' | 'set'
--   9 open_ticket    with 'set'
--  10 outbox_mode    'none' | 'set'
--  11 outbox_blob    with 'set'
--  12 seen_mode      'any' | 'is': the open-ticket pointer must still be what the
--                   router read before deciding (a new ticket: another process may
--                   have opened one for this customer meanwhile)
--  13 seen_ticket    with 'is': that ticket id ('' for none)
--  14 writer         who commits (one id per role and process)
--  15 lease_ms       how long this writer may take to publish what it commits here
--  16 marks          'wait': a ticket another writer holds is 'PENDING' | 'over': not
--                   (the router: it publishes at the end of its poll, long after any
--                   other writer's records of a change it read are out)
--  17.. message ids to index to ticket_id (with 'write' only)
-- Returns 'DUP' (the event was applied before: nothing changes), 'PENDING' (another
-- writer committed a change of the ticket and has not published it yet: nothing changes;
-- a change committed now would be published before that one could be, and the
-- compacted ticket-state topic would keep the older snapshot), 'CONFLICT' (the ticket's
-- version is not the expected one: nothing changes), 'MOVED' (the open ticket is not the
-- one seen: nothing changes) or 'OK'. A writer's own pending changes do not hold it up:
-- it publishes them in order. The mark lapses after the lease, so a writer that died
-- holds nobody up for longer.
if redis.call('EXISTS', KEYS[2]) == 1 then return 'DUP' end
local ttl, ticket_mode, tid = ARGV[1], ARGV[2], ARGV[3]
if ARGV[12] == 'is' and (redis.call('GET', KEYS[4]) or '') ~= ARGV[13] then
  return 'MOVED'
end
if ticket_mode == 'write' then
  local writer = redis.call('GET', KEYS[6])
  if writer and writer ~= ARGV[14] and ARGV[16] == 'wait' then return 'PENDING' end
  local current = tonumber(redis.call('HGET', KEYS[1], tid .. ':v') or '0')
  if current ~= tonumber(ARGV[4]) then return 'CONFLICT' end
  redis.call('HSET', KEYS[1], tid .. ':v', current + 1, tid .. ':json', ARGV[5])
  if ARGV[6] == 'replace' then redis.call('HSET', KEYS[1], tid .. ':message', ARGV[7]) end
  for i = 17, #ARGV do redis.call('HSET', KEYS[5], ARGV[i], tid) end
end
redis.call('SET', KEYS[2], '1', 'EX', ttl)
if ARGV[10] == 'set' then
  redis.call('SET', KEYS[3], ARGV[11], 'EX', ttl)
  if ticket_mode == 'write' then redis.call('SET', KEYS[6], ARGV[14], 'PX', ARGV[15]) end
end
if ARGV[8] == 'clear' then
  redis.call('DEL', KEYS[4])
elseif ARGV[8] == 'set' then
  redis.call('SET', KEYS[4], ARGV[9])
end
return 'OK'

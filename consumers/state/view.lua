-- Read what the router needs to place one event, in one step: is it done, its pending
-- outbox, the customer's profile, and one ticket with its version and last message.
--
-- KEYS
--   1 done           dedupe marker of the event
--   2 outbox         the event's records still to publish
--   3 open_ticket    the customer's open ticket
--   4 message_index  message id -> ticket
--   5 profile        the customer's CRM profile
--   6 ticket_data    hash: <ticket>:v, <ticket>:json, <ticket>:message (router/keys.py)
-- ARGV
--   1 find           'named' (the ticket in ARGV[2]; with reply refs, a reply routed to
--                    the ticket it answers: the open ticket instead when that is the
--                    ticket's follow-up) | 'search' (the first reply reference in the
--                    index, or the open ticket when that is the follow-up of the ticket
--                    found; else the open ticket)
--   2 ticket_id      with 'named'
--   3.. reply refs   in the order to try them: In-Reply-To, then References newest
--                    first (consumers.domain.threading.reply_refs)
-- Returns {done 0|1, outbox|false, version|false, ticket json|false, found by reply 0|1,
--          profile|false, message|false, open ticket|false}.
local tid, by_reply, replied = false, 0, false
local open = redis.call('GET', KEYS[3])
if ARGV[1] == 'named' then
  tid = ARGV[2]
  replied = #ARGV >= 3  -- a colleague's reply routed as the owner's; an action has none
else
  for i = 3, #ARGV do
    tid = redis.call('HGET', KEYS[4], ARGV[i])
    if tid then
      by_reply = 1
      replied = true
      break
    end
  end
  if not tid then tid = open end
end
if replied and open and open ~= tid then
  -- a reply to a ticket whose conversation went on in a follow-up (the customer's
  -- current ticket names it in follow_up_of) goes on there, not to a second follow-up
  local json = redis.call('HGET', KEYS[6], open .. ':json')
  local ok, t = pcall(cjson.decode, json or '')
  if ok and type(t) == 'table' and t['follow_up_of'] == tid then tid = open end
end
local ticket = {false, false, false}
if tid then
  ticket = redis.call('HMGET', KEYS[6], tid .. ':v', tid .. ':json', tid .. ':message')
end
return {redis.call('EXISTS', KEYS[1]), redis.call('GET', KEYS[2]), ticket[1], ticket[2],
        by_reply, redis.call('GET', KEYS[5]), ticket[3], open}

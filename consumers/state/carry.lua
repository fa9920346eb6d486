-- Carry a customer's current ticket over to the customer who absorbed them (an identity
-- merge, ``RedisThreadStore._carry_current_ticket``), one side at a time: the two
-- customers' keys are in two slots, so no one script can hold both. 'in' first, then
-- 'out': until 'out' ran, the absorbed customer still holds the ticket, and a repeat of
-- the merge finishes the move.
--
-- KEYS (the survivor's with 'in', the absorbed customer's with 'out')
--   1 ticket_data    hash: <ticket>:v, <ticket>:json, <ticket>:message (router/keys.py)
--   2 open_ticket    the customer's current ticket
--   3 message_index  message id -> ticket
-- ARGV
--   1 mode           'in' | 'out'
--   2 ticket_id
--   3 version        the absorbed customer's version of the ticket, read before
--   with 'in':
--   4 ticket_json
--   5 message_json   the kept last customer message; '' when there is none
--   6 expected       the survivor's current ticket read before deciding; '' for none
--   7.. message ids indexed to the ticket
--   with 'out':
--   4.. message ids indexed to the ticket
-- Returns 1, or 0 when what was read moved meanwhile: with 'in' the survivor's current
-- ticket, with 'out' the ticket's version (nothing changes: read again, decide again).
local tid, version = ARGV[2], tonumber(ARGV[3])
if ARGV[1] == 'in' then
  local current = redis.call('GET', KEYS[2])
  if current ~= tid and (current or '') ~= ARGV[6] then return 0 end
  local held = tonumber(redis.call('HGET', KEYS[1], tid .. ':v') or '0')
  if held < version then  -- not yet here (a repeat, or the router wrote on since: keep)
    redis.call('HSET', KEYS[1], tid .. ':v', version, tid .. ':json', ARGV[4])
    if ARGV[5] ~= '' then
      redis.call('HSET', KEYS[1], tid .. ':message', ARGV[5])
    else
      redis.call('HDEL', KEYS[1], tid .. ':message')
    end
  end
  for i = 7, #ARGV do redis.call('HSET', KEYS[3], ARGV[i], tid) end
  redis.call('SET', KEYS[2], tid)
  return 1
end
if tonumber(redis.call('HGET', KEYS[1], tid .. ':v') or '0') ~= version then return 0 end
redis.call('HDEL', KEYS[1], tid .. ':v', tid .. ':json', tid .. ':message')
for i = 4, #ARGV do
  if redis.call('HGET', KEYS[3], ARGV[i]) == tid then redis.call('HDEL', KEYS[3], ARGV[i]) end
end
if redis.call('GET', KEYS[2]) == tid then redis.call('DEL', KEYS[2]) end
return 1

-- Begin one send of a notification delivery (consumers/state/notifications.py).
-- KEYS[1]: the delivery's hash.  ARGV: max attempts, TTL in seconds, mode ('line': the
-- consumer's first sends; 'retry': the retry loop sending a parked delivery; 'replay':
-- the first send of a dead letter `deadletter replay` sent back, once its cause was
-- fixed: a failed delivery gets a fresh set of attempts, but keeps its count of sends
-- without an answer; one that may have been delivered stays settled).
-- Fields: state (sending|retry|parked|sent|failed|skipped|uncertain|maybe_sent), unknown
-- (sends whose outcome nobody learnt), attempts (sends begun), answer (the provider's
-- last word).
-- Answers {verdict, attempts, unknown, answer}; verdict is
--   "send"       go ahead: the state is now "sending";
--   "done"       settled before (sent, failed, skipped, maybe_sent): send nothing;
--   "parked"     waiting in the retry schedule ('line' only): the retry loop sends it;
--   "exhausted"  every attempt failed: dead-letter it;
--   "uncertain"  two sends ended without an outcome: a third could deliver it thrice.
--                Answered until the caller reported it (dead letter) and wrote maybe_sent.
local h = KEYS[1]
local state = redis.call('HGET', h, 'state')
local answer = redis.call('HGET', h, 'answer') or ''
local unknown = tonumber(redis.call('HGET', h, 'unknown') or '0')
local attempts = tonumber(redis.call('HGET', h, 'attempts') or '0')
if state == 'failed' and ARGV[3] == 'replay' then
  -- fresh attempts; sends that ended without an answer still count against a third
  attempts = 0
  state = false
  redis.call('HDEL', h, 'state')
end
if state == 'sent' or state == 'failed' or state == 'skipped' or state == 'maybe_sent' then
  return {'done', attempts, unknown, answer}
end
if state == 'parked' and ARGV[3] ~= 'retry' then
  return {'parked', attempts, unknown, answer}
end
if state == 'sending' then
  -- the last send began and no outcome was ever written: the process died inside it
  unknown = unknown + 1
  redis.call('HSET', h, 'unknown', unknown, 'state', 'retry')
end
if unknown >= 2 then
  redis.call('HSET', h, 'state', 'uncertain')
  return {'uncertain', attempts, unknown, answer}
end
if attempts >= tonumber(ARGV[1]) then
  return {'exhausted', attempts, unknown, answer}
end
attempts = attempts + 1
redis.call('HSET', h, 'state', 'sending', 'attempts', attempts, 'unknown', unknown)
redis.call('EXPIRE', h, ARGV[2])
return {'send', attempts, unknown, answer}

-- Count an auto-reply to one mailbox (consumers/notify/throttle.py): at most ARGV[2] per
-- window of ARGV[3] seconds, from the first. A delivery counted before (a redelivered
-- batch) is allowed again without counting twice.
-- KEYS[1]: the mailbox's set of delivery ids.  ARGV: delivery id, limit, window in seconds.
-- Returns 1 (send it) or 0 (the mailbox had its share).
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 1 end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
return 1

-- Delete a key only while it still holds the given value: take back an index entry a
-- commit wrote for a ticket it then did not create, and nothing another writer set.
--
-- KEYS
--   1 key
-- ARGV
--   1 value          what the key must hold to be deleted
-- Returns 1 when deleted, else 0.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0

-- Write one alert atomically and idempotently.
-- KEYS[1] alert key (SET NX: dedup marker + JSON for lookups)  KEYS[2] stream
-- KEYS[3] global index ZSET  KEYS[4] stats hash of the alert's hour  KEYS[5..] entity/theme ZSETs
-- ARGV[1] alert id  ARGV[2] alert JSON  ARGV[3] dedup TTL (s)  ARGV[4] stream MAXLEN (~)
-- ARGV[5] live channel  ARGV[6] score (created_at)  ARGV[7] per-entity/theme index size
-- ARGV[8] stats hash TTL (s, 0 = too old to count)  ARGV[9..] stats fields to increment
-- Returns 1 when the alert is new, 0 when it was already written (then nothing changes).
-- A key of the wrong type is refused before anything is written: an error in a script does not
-- undo its earlier writes, so the alert would be marked written but left out of an index.
local function wrong_type(key, kind)
  local found = redis.call('TYPE', key)['ok']
  if found ~= 'none' and found ~= kind then
    return redis.error_reply('WRONGTYPE ' .. key .. ' holds a ' .. found .. ', not a ' .. kind)
  end
end
local err = wrong_type(KEYS[2], 'stream') or wrong_type(KEYS[3], 'zset')
  or wrong_type(KEYS[4], 'hash')
for i = 5, #KEYS do
  err = err or wrong_type(KEYS[i], 'zset')
end
if err then
  return err
end
if not redis.call('SET', KEYS[1], ARGV[2], 'NX', 'EX', ARGV[3]) then
  return 0
end
local maxlen = tonumber(ARGV[4])
local keep = tonumber(ARGV[7])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', maxlen, '*', 'id', ARGV[1], 'data', ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[6], ARGV[1])
if redis.call('ZCARD', KEYS[3]) > maxlen then
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -(maxlen + 1))
end
for i = 5, #KEYS do
  redis.call('ZADD', KEYS[i], ARGV[6], ARGV[1])
  if redis.call('ZCARD', KEYS[i]) > keep then
    redis.call('ZREMRANGEBYRANK', KEYS[i], 0, -(keep + 1))
  end
  redis.call('EXPIRE', KEYS[i], ARGV[3])
end
local stats_ttl = tonumber(ARGV[8])
if stats_ttl > 0 then
  for i = 9, #ARGV do
    redis.call('HINCRBY', KEYS[4], ARGV[i], 1)
  end
  redis.call('EXPIRE', KEYS[4], stats_ttl)
end
redis.call('PUBLISH', ARGV[5], ARGV[2])
return 1

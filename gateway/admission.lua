-- Admit one request: check and count each rate limit in turn, stopping at the first that
-- refuses, then read the cached answer if one was asked for and every limit allowed.
--
-- Each limit is a sliding window counter of the `limits` library, on its keys and with its
-- arithmetic (acquire_sliding_window.lua, then sliding_window.lua, in one step).
-- The cached answer is the entry of the cache's current generation: its key is the entry's
-- name and the generation (servicekit.cachekeys, whose `generation` function precedes this
-- script), composed here so the read stays in this one round trip.
-- KEYS: per limit its previous and current window keys; then, for a cached read, the
-- generation key and the entry's name.
-- ARGV[1]: per limit its amount and expiry in seconds, all separated by spaces;
-- ARGV[2]: the cache hash field ('' for a plain string key), when a cached read is asked;
-- ARGV[3]: '1' when this replica owes the cache a new generation: moved on before anything.
-- Returns one {allowed, previous count, previous pttl, current count, current pttl} per
-- limit applied, then the cached value or false, then the generation read or false, then
-- the entry's version ('' when it was never forgotten; a put checks it: cachekeys.PUT_LUA)
-- or false.

local spec = {}
for word in string.gmatch(ARGV[1], '%S+') do
  spec[#spec + 1] = tonumber(word)
end
local n = #spec / 2
local reading = #KEYS > 2 * n
local current_generation = false
if reading then
  current_generation = generation(KEYS[2 * n + 1], ARGV[3] == '1')
end
local out = {}
for i = 1, n do
  local previous_key, current_key = KEYS[2 * i - 1], KEYS[2 * i]
  local amount = spec[2 * i - 1]
  local expiry = spec[2 * i] * 1000

  local current_ttl = tonumber(redis.call('pttl', current_key))
  if current_ttl > 0 and current_ttl < expiry then
    -- The current window is over: it becomes the previous one.
    redis.call('rename', current_key, previous_key)
    redis.call('set', current_key, 0, 'PX', current_ttl + expiry)
  end
  local previous_count = tonumber(redis.call('get', previous_key)) or 0
  local previous_ttl = math.max(0, tonumber(redis.call('pttl', previous_key)))
  local current_count = tonumber(redis.call('get', current_key)) or 0
  current_ttl = math.max(0, tonumber(redis.call('pttl', current_key)))

  local weighted = math.floor(previous_count * previous_ttl / expiry) + current_count
  local allowed = weighted + 1 <= amount
  if allowed then
    if redis.call('exists', current_key) == 1 then
      current_count = redis.call('incrby', current_key, 1)
    else
      redis.call('set', current_key, 1, 'PX', expiry * 2)
      current_count = 1
      current_ttl = expiry * 2
    end
  end
  out[i] = {allowed and 1 or 0, previous_count, previous_ttl, current_count, current_ttl}
  if not allowed then
    out[i + 1] = false
    out[i + 2] = current_generation
    out[i + 3] = false
    return out
  end
end

local cached = false
local version = false
if reading then
  version = redis.call('get', KEYS[2 * n + 2] .. ':v') or ''
  local key = KEYS[2 * n + 2] .. ':g' .. current_generation
  if ARGV[2] == '' then
    cached = redis.call('get', key)
  else
    cached = redis.call('hget', key, ARGV[2])
  end
end
out[n + 1] = cached
out[n + 2] = current_generation
out[n + 3] = version
return out

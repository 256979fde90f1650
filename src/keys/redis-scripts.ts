/**
 * The Lua scripts behind RedisLimits. Redis runs a script alone, start to end, so each one is a
 * single atomic step across every replica: the admit script's checks and additions can never
 * interleave with another admission's. They run the same algorithms as MemoryLimits
 * (request-log.ts for the window, memory-limits.ts for the budget); keep them in step.
 *
 * Keys, all of one API key, under one hash tag `{id}` so they share a Redis Cluster slot:
 *   KEYS[1] budget hash of the period: `spent`, `reserved` (nano-USD), `r:<admission>` -> its reservation
 *   KEYS[2] lease zset of the period: admission -> when its reservation lapses (epoch ms)
 *   KEYS[3] window zset: admission -> when it was admitted (epoch ms)
 *   KEYS[4] window hash: admission -> its tokens, and `_sum` (`_` is not in an admission id)
 *
 * Time is Redis's own (TIME) unless the caller passes one (tests), so replicas whose clocks
 * differ still share one window. Every number goes back to Redis through `int` (`%d`): Lua's
 * tostring would write 1e+15, which HINCRBY refuses.
 */

const COMMON = `
local function int(x) return string.format('%d', x) end
local function num(s) return tonumber(s) or 0 end
local function clock(arg)
  local now = tonumber(arg)
  if now then return now end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- drop reservations whose request never settled (its replica died)
local function lapse(budget, leases, now)
  local ids = redis.call('ZRANGEBYSCORE', leases, '-inf', now)
  if #ids == 0 then return end
  local freed = 0
  for _, id in ipairs(ids) do
    local amount = redis.call('HGET', budget, 'r:' .. id)
    if amount then
      freed = freed + tonumber(amount)
      redis.call('HDEL', budget, 'r:' .. id)
    end
  end
  -- never HINCRBY a key that may be gone: it would come back with no expiry
  if freed ~= 0 then redis.call('HINCRBY', budget, 'reserved', int(-freed)) end
  redis.call('ZREMRANGEBYSCORE', leases, '-inf', now)
end
-- drop window entries admitted at or before now - window
local function slide(win, tok, now, window)
  local ids = redis.call('ZRANGEBYSCORE', win, '-inf', now - window)
  if #ids == 0 then return end
  local freed = 0
  for _, id in ipairs(ids) do
    freed = freed + num(redis.call('HGET', tok, id))
    redis.call('HDEL', tok, id)
  end
  if freed ~= 0 then redis.call('HINCRBY', tok, '_sum', int(-freed)) end
  redis.call('ZREMRANGEBYSCORE', win, '-inf', now - window)
end
`;

/**
 * ARGV: now ('' = Redis time), admission id, estimate nano-USD, estimate tokens, budget nano-USD
 * ('' = none), soft ('1'/'0'), rpm ('' = none), tpm ('' = none), reservation ttl ms, budget
 * keys' expiry (epoch ms), window ms.
 * Returns {'budget', spent, reserved} | {'rate', which, used, wait ms} | {'ok', over, spent, reserved, now}.
 */
export const ADMIT = `${COMMON}
local now = clock(ARGV[1])
local id, est, tokens = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local budget, soft = tonumber(ARGV[5]), ARGV[6] == '1'
local rpm, tpm = tonumber(ARGV[7]), tonumber(ARGV[8])
local ttl, expireAt, window = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])

lapse(KEYS[1], KEYS[2], now)
local spent = num(redis.call('HGET', KEYS[1], 'spent'))
local reserved = num(redis.call('HGET', KEYS[1], 'reserved'))
local over = budget ~= nil and spent + reserved + est > budget
if over and not soft then return {'budget', int(spent), int(reserved)} end

slide(KEYS[3], KEYS[4], now, window)
local count = redis.call('ZCARD', KEYS[3])
local sum = num(redis.call('HGET', KEYS[4], '_sum'))
local wait, which, used = 0, '', 0
if rpm and count + 1 > rpm then
  -- the (count + 1 - rpm) oldest must leave; the last of them is at index count - rpm
  local e = redis.call('ZRANGE', KEYS[3], count - rpm, count - rpm, 'WITHSCORES')
  wait, which, used = tonumber(e[2]) + window - now, 'requests', count
end
if tpm and sum + tokens > tpm then
  local entries = redis.call('ZRANGE', KEYS[3], 0, -1, 'WITHSCORES')
  local freed = 0
  for i = 1, #entries, 2 do
    freed = freed + num(redis.call('HGET', KEYS[4], entries[i]))
    if sum - freed + tokens <= tpm then
      local w = tonumber(entries[i + 1]) + window - now
      if w > wait then wait, which, used = w, 'tokens', sum end
      break
    end
  end
end
if which ~= '' then return {'rate', which, int(used), int(wait)} end

redis.call('HINCRBY', KEYS[1], 'reserved', int(est))
redis.call('HSET', KEYS[1], 'r:' .. id, int(est))
redis.call('ZADD', KEYS[2], int(now + ttl), id)
redis.call('PEXPIREAT', KEYS[1], int(expireAt))
redis.call('PEXPIREAT', KEYS[2], int(expireAt))
redis.call('ZADD', KEYS[3], int(now), id)
redis.call('HSET', KEYS[4], id, int(tokens))
redis.call('HINCRBY', KEYS[4], '_sum', int(tokens))
-- the whole window is stale a window after its newest entry
redis.call('PEXPIRE', KEYS[3], int(window + 1000))
redis.call('PEXPIRE', KEYS[4], int(window + 1000))
return {'ok', over and '1' or '0', int(spent), int(reserved), int(now)}
`;

/**
 * ARGV: admission id, actual nano-USD, actual tokens, budget keys' expiry.
 * Returns {charged nano-USD}.
 */
export const SETTLE = `${COMMON}
local id, actual, tokens, expireAt = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local reserved = redis.call('HGET', KEYS[1], 'r:' .. id)
if reserved then
  redis.call('HINCRBY', KEYS[1], 'reserved', int(-tonumber(reserved)))
  redis.call('HDEL', KEYS[1], 'r:' .. id)
  redis.call('ZREM', KEYS[2], id)
end
redis.call('HINCRBY', KEYS[1], 'spent', int(actual))
redis.call('PEXPIREAT', KEYS[1], int(expireAt))
-- only an entry still in the window is corrected: HSET on a lapsed key would leave it with no expiry
local before = redis.call('HGET', KEYS[4], id)
if before then
  redis.call('HSET', KEYS[4], id, int(tokens))
  redis.call('HINCRBY', KEYS[4], '_sum', int(tokens - tonumber(before)))
end
return {int(actual)}
`;

/**
 * ARGV: now ('' = Redis time), window ms.
 * Returns {spent, reserved, requests in window, tokens in window}.
 */
export const STATE = `${COMMON}
local now, window = clock(ARGV[1]), tonumber(ARGV[2])
lapse(KEYS[1], KEYS[2], now)
slide(KEYS[3], KEYS[4], now, window)
return {
  int(num(redis.call('HGET', KEYS[1], 'spent'))),
  int(num(redis.call('HGET', KEYS[1], 'reserved'))),
  int(redis.call('ZCARD', KEYS[3])),
  int(num(redis.call('HGET', KEYS[4], '_sum'))),
}
`;

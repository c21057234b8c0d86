/**
 * The Lua scripts that make shared state atomic in Redis: a check and its write in one step, so two
 * hosts never both take the last dollars, the last request of the day, or overwrite a longer cooldown.
 * Amounts are whole nano-dollars (Lua numbers are doubles: exact up to 2^53, about $9M).
 */

/** KEYS: budget hash, holds hash. ARGV: cap, nano, hold id, force (1/0), ttl ms. Returns {ok, spent, held}. */
export const RESERVE_BUDGET = `
local spent = tonumber(redis.call('hget', KEYS[1], 'spent') or '0')
local held = tonumber(redis.call('hget', KEYS[1], 'held') or '0')
local nano = tonumber(ARGV[2])
if ARGV[4] ~= '1' and spent + held + nano > tonumber(ARGV[1]) then
  return {0, spent, held}
end
redis.call('hincrby', KEYS[1], 'held', nano)
redis.call('hset', KEYS[2], ARGV[3], nano)
redis.call('pexpire', KEYS[1], ARGV[5])
redis.call('pexpire', KEYS[2], ARGV[5])
return {1, spent, held + nano}
`;

/** KEYS: budget hash, holds hash. ARGV: hold id, actual nano, spend field (job and project), ttl ms. Returns {spent, held}. */
export const SETTLE_BUDGET = `
local held = redis.call('hget', KEYS[2], ARGV[1])
if held then
  redis.call('hdel', KEYS[2], ARGV[1])
  redis.call('hincrby', KEYS[1], 'held', -tonumber(held))
end
redis.call('hincrby', KEYS[1], 'spent', ARGV[2])
redis.call('hincrby', KEYS[1], 'spend:' .. ARGV[3], ARGV[2])
redis.call('hincrby', KEYS[1], 'calls:' .. ARGV[3], 1)
redis.call('pexpire', KEYS[1], ARGV[4])
return {tonumber(redis.call('hget', KEYS[1], 'spent') or '0'), tonumber(redis.call('hget', KEYS[1], 'held') or '0')}
`;

/** KEYS: the day's counter. ARGV: rpd, floor, ttl ms. Returns {ok, count}. */
export const COUNT_REQUEST = `
local count = tonumber(redis.call('get', KEYS[1]) or '0')
local floor = tonumber(ARGV[2])
if floor > count then count = floor end
if count >= tonumber(ARGV[1]) then return {0, count} end
redis.call('set', KEYS[1], count + 1, 'PX', ARGV[3])
return {1, count + 1}
`;

/** KEYS: cooldowns hash. ARGV: key, record (JSON), until, channel. A longer cooldown in force is kept. Returns 1 when recorded. */
export const SET_COOLDOWN = `
local current = redis.call('hget', KEYS[1], ARGV[1])
if current then
  local c = cjson.decode(current)
  if (not c['cleared']) and c['until'] >= tonumber(ARGV[3]) then return 0 end
end
redis.call('hset', KEYS[1], ARGV[1], ARGV[2])
redis.call('publish', ARGV[4], ARGV[2])
return 1
`;

/** KEYS: cooldowns hash. ARGV: key, started at, channel. Clears a cooldown recorded before the call started. Returns 1 when cleared. */
export const CLEAR_COOLDOWN = `
local current = redis.call('hget', KEYS[1], ARGV[1])
if not current then return 0 end
local c = cjson.decode(current)
if c['cleared'] or c['at'] >= tonumber(ARGV[2]) then return 0 end
c['cleared'] = true
local record = cjson.encode(c)
redis.call('hset', KEYS[1], ARGV[1], record)
redis.call('publish', ARGV[3], record)
return 1
`;

/**
 * KEYS: a window's hash. ARGV: the version read, the next state, ttl ms. Writes the state only when
 * no other process changed it since it was read (compare and set). Returns {1} when written, else
 * {0, version, state} as they are now, for the caller to try again from.
 */
export const CHANGE_WINDOW = `
local version = redis.call('hget', KEYS[1], 'v') or ''
if version ~= ARGV[1] then return {0, version, redis.call('hget', KEYS[1], 's') or ''} end
redis.call('hset', KEYS[1], 'v', tostring(tonumber(version ~= '' and version or '0') + 1), 's', ARGV[2])
redis.call('pexpire', KEYS[1], ARGV[3])
return {1}
`;

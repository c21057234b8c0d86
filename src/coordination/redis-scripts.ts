/**
 * The Lua scripts that make shared state atomic in Redis: a check and its write in one step, so two
 * hosts never both take the last dollars, the last request of the day, or overwrite a longer cooldown.
 * Amounts are whole nano-dollars (Lua numbers are doubles: exact up to 2^53, about $9M).
 */

/**
 * The epoch of what Redis holds (see SpendJournal): set when missing (a Redis that started empty),
 * read by every booking, so a host knows under which epoch it booked each amount. KEYS[3]: the
 * epoch key, ARGV[EPOCH_ARG]: a new epoch id to set when there is none.
 */
const EPOCH = (keyIndex: number, argIndex: number) => `
redis.call('set', KEYS[${keyIndex}], ARGV[${argIndex}], 'NX')
local epoch = redis.call('get', KEYS[${keyIndex}])
`;

/** KEYS: budget hash, holds hash, epoch. ARGV: cap, nano, hold id, force (1/0), ttl ms, new epoch. Returns {ok, spent, held, epoch}. */
export const RESERVE_BUDGET = `${EPOCH(3, 6)}
local spent = tonumber(redis.call('hget', KEYS[1], 'spent') or '0')
local held = tonumber(redis.call('hget', KEYS[1], 'held') or '0')
local nano = tonumber(ARGV[2])
if ARGV[4] ~= '1' and spent + held + nano > tonumber(ARGV[1]) then
  return {0, spent, held, epoch}
end
redis.call('hincrby', KEYS[1], 'held', nano)
redis.call('hset', KEYS[2], ARGV[3], nano)
redis.call('pexpire', KEYS[1], ARGV[5])
redis.call('pexpire', KEYS[2], ARGV[5])
return {1, spent, held + nano, epoch}
`;

/** KEYS: budget hash, holds hash, epoch. ARGV: hold id, actual nano, spend field (job and project; empty when the hold is released without a call, which books nothing), ttl ms, new epoch. Returns {spent, held, epoch}. */
export const SETTLE_BUDGET = `${EPOCH(3, 5)}
local held = redis.call('hget', KEYS[2], ARGV[1])
if held then
  redis.call('hdel', KEYS[2], ARGV[1])
  redis.call('hincrby', KEYS[1], 'held', -tonumber(held))
end
if ARGV[3] ~= '' then
  redis.call('hincrby', KEYS[1], 'spent', ARGV[2])
  redis.call('hincrby', KEYS[1], 'spend:' .. ARGV[3], ARGV[2])
  redis.call('hincrby', KEYS[1], 'calls:' .. ARGV[3], 1)
end
redis.call('pexpire', KEYS[1], ARGV[4])
return {tonumber(redis.call('hget', KEYS[1], 'spent') or '0'), tonumber(redis.call('hget', KEYS[1], 'held') or '0'), epoch}
`;

/**
 * Puts back what one host booked under older epochs, once per epoch and host. KEYS: the host's
 * marker for the epoch, then a budget hash and its holds hash per day. ARGV: ttl ms, then per day a
 * JSON record {spend: {field: nano}, calls: {field: n}, holds: {id: nano}} (amounts as strings).
 * Returns 1 when put back, 0 when the host had already done it in this epoch.
 */
export const SEED_BUDGET = `
if not redis.call('set', KEYS[1], '1', 'NX') then return 0 end
for i = 2, #ARGV do
  local budget = KEYS[2 * (i - 1)]
  local holds = KEYS[2 * (i - 1) + 1]
  local day = cjson.decode(ARGV[i])
  for field, nano in pairs(day.spend) do
    redis.call('hincrby', budget, 'spend:' .. field, nano)
    redis.call('hincrby', budget, 'spent', nano)
  end
  for field, n in pairs(day.calls) do redis.call('hincrby', budget, 'calls:' .. field, n) end
  for id, nano in pairs(day.holds) do
    if redis.call('hsetnx', holds, id, nano) == 1 then redis.call('hincrby', budget, 'held', nano) end
  end
  redis.call('pexpire', budget, ARGV[1])
  redis.call('pexpire', holds, ARGV[1])
end
return 1
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

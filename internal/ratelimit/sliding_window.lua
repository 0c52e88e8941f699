-- The sliding-window rule of decide (sliding_window.go) in milliseconds, run
-- by Redis as one atomic read-check-increment. The two must change together.
--
-- KEYS[1]  the key's state, a hash: w = number of the window last written,
--          c = units in that window, p = units in the window before it
-- ARGV     limit N, window in milliseconds, cost
-- Returns  {allowed (1 or 0), remaining, retry after in milliseconds}
--
-- Time is the server's TIME, so every process sharing this Redis shares one
-- clock. Numbers are Lua doubles; the caller keeps N and cost below 2^52 so
-- sums are exact, and the weighting is rounded up, the cautious way.

-- Needed before Redis 5 to write after reading TIME; a no-op since.
if redis.replicate_commands then redis.replicate_commands() end

local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local index = math.floor(now / window)
local elapsed = now - index * window

local state = redis.call('HMGET', KEYS[1], 'w', 'c', 'p')
local stored = tonumber(state[1])
local current = tonumber(state[2]) or 0
local previous = tonumber(state[3]) or 0
if stored == nil or stored < index - 1 then
  current, previous = 0, 0
elseif stored == index - 1 then
  previous, current = current, 0
elseif stored > index then
  -- The clock went backwards: keep the stored window, taken as just begun.
  index, elapsed = stored, 0
end

-- The units of a window still counted at elapsed time `at` into the next.
local function weighted(units, at)
  if units == 0 then return 0 end
  return math.ceil(units * (window - at) / window)
end

-- The earliest elapsed time at which weighted(units, at) <= room. The step
-- loop absorbs rounding of the division, so the answer agrees with weighted.
local function freedAt(units, room)
  local at = math.ceil(window * (units - room) / units)
  while at < window and weighted(units, at) > room do at = at + 1 end
  return at
end

local used = current + weighted(previous, elapsed)
if used + cost <= limit then
  current = current + cost
  -- '%.0f' because Lua's default number format keeps only 14 digits.
  redis.call('HSET', KEYS[1],
    'w', string.format('%.0f', index),
    'c', string.format('%.0f', current),
    'p', string.format('%.0f', previous))
  -- The counts matter until the end of the next window.
  redis.call('PEXPIRE', KEYS[1], string.format('%.0f', 2 * window - elapsed))
  return {1, limit - used - cost, 0}
end

local wait
if current + cost <= limit then
  wait = freedAt(previous, limit - current - cost) - elapsed
else
  wait = window - elapsed + freedAt(current, limit - cost)
end
if wait < 1 then wait = 1 end
return {0, math.max(0, limit - used), wait}

"""Names of the gateway's shared Redis cache entries, and the cache's generation.

An entry's Redis key is its name and the current generation (`entry_key`); the generation
is a number kept in Redis under `GENERATION`. Moving it on (`Generations.bump`) makes every
entry written before unreachable at once (they expire by their lifetimes), which is how a
forget that could not reach Redis is made good once Redis is back: the process that failed
to forget bumps before anything else. Services that change a user's data outside a gateway
request (goal progress from events) forget the entry with `Generations.forget`, which reads
the generation and deletes in one round trip; when that fails they bump too.

Each entry also has a version, moved on by every forget, which its read returns beside the
answer: a put stores only if the version is still the one read. A read that missed, loaded
an answer, and was overtaken by a change and its forget thus stores nothing, rather than an
answer older than the change for the entry's whole lifetime."""

from __future__ import annotations

import redis.asyncio as aioredis

GENERATION = "fitmesh:cache:generation"

# The generation in a script's own step: moved on when asked (INCR), or started when Redis
# has none, from its clock in seconds, so a Redis that lost its data never comes back to a
# number it handed out before (a put still on its way may carry one). A prelude of the
# scripts that use it (this module's, the gateway's admission).
GENERATION_LUA = """
local function generation(key, bump)
  local current = redis.call('get', key)
  if not current then
    current = redis.call('time')[1]
    redis.call('set', key, current)
  elseif bump then
    current = tostring(redis.call('incr', key))
  end
  return current
end
"""

# How long an entry's version outlives its last forget: far longer than any read takes
# from its lookup to its put (a version gone makes a put with one seen before refused).
VERSION_SECONDS = 3600

# The end of a forget: the entries KEYS[2..] of the generation KEYS[1] deleted (without a
# generation there is no entry); returns how many there were.
_DELETE_ENTRIES = """
local current = redis.call('get', KEYS[1])
if not current then
  return 0
end
local keys = {}
for i = 2, #KEYS do
  keys[#keys + 1] = KEYS[i] .. ':g' .. current
end
return redis.call('del', unpack(keys))
"""

# KEYS[1]: the generation; KEYS[2..]: entry names. Each entry's version moves on, so a put
# of an answer read before this forget is refused (`PUT_LUA`).
FORGET_LUA = (
    f"""
for i = 2, #KEYS do
  redis.call('incr', KEYS[i] .. ':v')
  redis.call('expire', KEYS[i] .. ':v', {VERSION_SECONDS})
end
"""
    + _DELETE_ENTRIES
)

# How long the versions of an erased account's entries stay, as a mark that holds nothing
# of it: past any read's deadline, so no put of a read begun before lands after.
ERASED_MS = 120_000

# KEYS[1]: the generation; KEYS[2..]: entry names of an account that is erased. Like
# FORGET_LUA, but each version becomes a mark no read has seen, that goes by itself.
ERASE_LUA = (
    f"""
for i = 2, #KEYS do
  redis.call('set', KEYS[i] .. ':v', 'erased', 'PX', {ERASED_MS})
end
"""
    + _DELETE_ENTRIES
)

# KEYS[1]: the entry's key in the generation its read found; KEYS[2]: its version key.
# ARGV: the version the read found ('' for none), the body, the lifetime in seconds, the
# hash field ('' for a plain key). Stored only if no forget came since the read (1), so an
# answer loaded before a change never outlives the change's forget (0).
PUT_LUA = """
if (redis.call('get', KEYS[2]) or '') ~= ARGV[1] then
  return 0
end
if ARGV[4] == '' then
  redis.call('set', KEYS[1], ARGV[2], 'EX', ARGV[3])
else
  redis.call('hset', KEYS[1], ARGV[4], ARGV[2])
  redis.call('expire', KEYS[1], ARGV[3], 'NX')
end
return 1
"""

BUMP_LUA = GENERATION_LUA + "return generation(KEYS[1], true)\n"


def entry_key(name: str, generation: str) -> str:
    """The Redis key of an entry in a generation (the Lua scripts compose the same)."""
    return f"{name}:g{generation}"


def version_key(name: str) -> str:
    """The key of an entry's version: how many times it was forgotten, whatever the
    generation (the Lua scripts compose the same)."""
    return f"{name}:v"


class Generations:
    """Forget entries of the current generation, or move the generation on, on one client
    (one round trip each)."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._forget = redis.register_script(FORGET_LUA)
        self._erase = redis.register_script(ERASE_LUA)
        self._bump = redis.register_script(BUMP_LUA)

    async def forget(self, *names: str) -> None:
        await self._forget(keys=[GENERATION, *names])

    async def erase(self, *names: str) -> None:
        """Forget the entries of an account that is gone, leaving no key that names it
        for longer than `ERASED_MS`."""
        await self._erase(keys=[GENERATION, *names])

    async def bump(self) -> str:
        """Move the generation on: every entry cached so far is unreachable."""
        generation = await self._bump(keys=[GENERATION])
        return generation.decode() if isinstance(generation, bytes) else str(generation)


def profile_key(user_id: str) -> str:
    return f"fitmesh:cache:profile:{user_id}"


def statistics_key(user_id: str) -> str:
    return f"fitmesh:cache:statistics:{user_id}"


def goals_key(user_id: str) -> str:
    """A hash: one field per cached goals answer (a page, or one goal)."""
    return f"fitmesh:cache:goals:{user_id}"


def health_key(user_id: str) -> str:
    """A hash: one field per cached metric summary (a window and type)."""
    return f"fitmesh:cache:health:{user_id}"


def insights_key(user_id: str) -> str:
    """A hash: one field per cached insights answer. Metrics, meals, workouts and the
    profile feed the rules, so a write of any of them forgets it."""
    return f"fitmesh:cache:insights:{user_id}"


def workouts_key(user_id: str) -> str:
    """A hash: one field per cached page of the user's workouts (its query)."""
    return f"fitmesh:cache:workouts:{user_id}"


def of_user(user_id: str) -> tuple[str, ...]:
    """Every cache entry of a user's, as an erasure forgets them."""
    return (
        profile_key(user_id),
        statistics_key(user_id),
        goals_key(user_id),
        health_key(user_id),
        insights_key(user_id),
        workouts_key(user_id),
    )

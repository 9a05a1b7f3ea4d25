"""Everything the portal keeps in Redis, and the one place where its keys are named.

Keys from the seed service (kept so an existing deployment's data carries over):
  replMeta:{replId}       hash of a REPL's metadata
  userRepls:{userId}      set of a user's REPL ids
  activeSession:{replId}  hash of a running session (present while not stopped)
Keys new to this project:
  activeSessions          set of REPL ids with a session, for reconciliation and idle stops
  startingSessions        set of REPL ids whose start is under way, for the portal-wide limit
  rateLimit:{key}         quart-rate-limiter's theoretical arrival time for a caller and route
  replEvents:{replId}     pub/sub channel of a REPL's progress events
  user:{userId}           hash of the user's GitHub profile, refreshed at each sign-in
  webSession:{sid}        user id behind a browser sign-in; expires with it
  userTokens:{userId}     hash tokenId -> token record (JSON) for listing
  apiToken:{sha256}       "userId:tokenId" for bearer authentication
"""

from __future__ import annotations

import json
import time
from typing import Any, cast

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from portal.models import ApiToken, Repl, User

_REPL_FIELDS = {
    "id": "id",
    "name": "name",
    "owner_id": "ownerId",
    "owner_login": "ownerLogin",
    "template": "template",
    "created_at": "createdAt",
    "storage_prefix": "storagePrefix",
}


def repl_meta_key(repl_id: str) -> str:
    return f"replMeta:{repl_id}"


def user_repls_key(user_id: str) -> str:
    return f"userRepls:{user_id}"


def active_session_key(repl_id: str) -> str:
    return f"activeSession:{repl_id}"


ACTIVE_SESSIONS = "activeSessions"
STARTING_SESSIONS = "startingSessions"
EVENTS_PATTERN = "replEvents:*"


def rate_limit_key(key: str) -> str:
    return f"rateLimit:{key}"


def events_channel(repl_id: str) -> str:
    return f"replEvents:{repl_id}"


def user_key(user_id: str) -> str:
    return f"user:{user_id}"


def web_session_key(sid: str) -> str:
    return f"webSession:{sid}"


def user_tokens_key(user_id: str) -> str:
    return f"userTokens:{user_id}"


def api_token_key(token_hash: str) -> str:
    return f"apiToken:{token_hash}"


# The quota check and the two writes happen in one step so that concurrent creates
# cannot both slip under the limit, and a REPL is never listed without its metadata.
_CREATE_REPL = """
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[2], unpack(ARGV, 3))
redis.call('SADD', KEYS[1], ARGV[2])
return 1
"""


# Reads the metadata, session state and latest progress event of every REPL in a user's
# set. The keys it reads are derived from the set, so this suits a single Redis (or one
# with all keys together).
_LIST_REPLS = """
local replies = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  table.insert(replies, redis.call('HGETALL', 'replMeta:' .. id))
  local session = redis.call('HMGET', 'activeSession:' .. id, 'state', 'event')
  table.insert(replies, session[1] or '')
  table.insert(replies, session[2] or '')
end
return replies
"""

# A start claims the session only if none is under way, so two starts at the same moment
# make one workload. Answers the state found, or "claimed".
# It also holds the limits: the owner's sessions under way (counted over their REPLs) and
# the starts in flight across every portal (a set pruned of finished starts as it goes).
_CLAIM_START = """
local state = redis.call('HGET', KEYS[1], 'state')
if state and state ~= 'failed' then return state end
local active = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  local other = redis.call('HGET', 'activeSession:' .. id, 'state')
  if other and other ~= 'failed' then active = active + 1 end
end
if active >= tonumber(ARGV[2]) then return 'user-limit' end
for _, id in ipairs(redis.call('SMEMBERS', KEYS[4])) do
  if redis.call('HGET', 'activeSession:' .. id, 'state') ~= 'starting' then
    redis.call('SREM', KEYS[4], id)
  end
end
if redis.call('SCARD', KEYS[4]) >= tonumber(ARGV[3]) then return 'busy' end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[1])
return 'claimed'
"""

# A stop moves a session to "stopping" from any state but "stopping" (or, given ARGV[2],
# only from that state); answers the state found ("absent" when there is no session).
_CLAIM_STOP = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 'absent' end
if state ~= 'stopping' and (ARGV[2] == '' or state == ARGV[2]) then
  redis.call('HSET', KEYS[1], 'state', 'stopping', 'op', ARGV[1])
end
return state
"""

# Reconciliation takes over a workload that has no session by giving it one, in state
# "stopping", only if there is still none: a start made meanwhile keeps its workload.
_CLAIM_ORPHAN = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('SADD', KEYS[2], ARGV[1])
return 1
"""

# Progress lands only while the operation that writes it still owns the session, so a
# start cancelled by a stop cannot overwrite the stop's state.
_PUBLISH = """
if redis.call('HGET', KEYS[1], 'op') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('PUBLISH', KEYS[2], ARGV[2])
return 1
"""


# An operation's heartbeat, so a live start or stop is never taken for a dead one.
_BEAT = """
if redis.call('HGET', KEYS[1], 'op') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'beat', ARGV[2])
return 1
"""


def connect(url: str, max_connections: int, pool_timeout: float) -> Redis:
    """A client whose pool waits for a free connection instead of failing at its limit,
    and which retries commands across a brief Redis restart."""
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=pool_timeout,
        decode_responses=True,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=6),
        retry_on_error=[RedisConnectionError, RedisTimeoutError, ConnectionResetError],
        health_check_interval=30,
    )
    return Redis(connection_pool=pool)


# The client decodes every reply (decode_responses=True); these say so to the type checker.
def _text(value: Any) -> str | None:
    return cast(str | None, value)


def _texts(value: Any) -> dict[str, str]:
    return cast(dict[str, str], value)


def _flat(fields: dict[str, str]) -> list[str]:
    """A hash's fields as the flat name, value, ... list that HSET takes in a script."""
    return [item for pair in fields.items() for item in pair]


def _repl_from_hash(values: dict[str, str]) -> Repl | None:
    if not values:
        return None
    return Repl(**{attr: values.get(key, "") for attr, key in _REPL_FIELDS.items()})


class RedisStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._create_repl = redis.register_script(_CREATE_REPL)
        self._list_repls = redis.register_script(_LIST_REPLS)
        self._claim_start = redis.register_script(_CLAIM_START)
        self._claim_stop = redis.register_script(_CLAIM_STOP)
        self._claim_orphan = redis.register_script(_CLAIM_ORPHAN)
        self._publish = redis.register_script(_PUBLISH)
        self._beat = redis.register_script(_BEAT)

    async def close(self) -> None:
        await self.redis.aclose()
        await self.redis.connection_pool.disconnect()

    async def ping(self) -> None:
        await self.redis.ping()

    # REPLs

    async def add_repl(self, repl: Repl, limit: int) -> bool:
        """Record a new REPL; False (and nothing written) when the owner is at `limit`."""
        fields = {key: getattr(repl, attr) for attr, key in _REPL_FIELDS.items()}
        created = await self._create_repl(
            keys=[user_repls_key(repl.owner_id), repl_meta_key(repl.id)],
            args=[limit, repl.id, *_flat(fields)],
        )
        return bool(created)

    async def count_repls(self, user_id: str) -> int:
        return int(await self.redis.scard(user_repls_key(user_id)))

    async def get_repl(self, repl_id: str) -> Repl | None:
        return _repl_from_hash(_texts(await self.redis.hgetall(repl_meta_key(repl_id))))

    async def list_repls(
        self, user_id: str
    ) -> list[tuple[Repl, str | None, dict[str, Any] | None]]:
        """The user's REPLs with their session state and latest progress event, in one
        round trip: listing is the most frequent request, and each round trip costs more
        than the rest of it."""
        replies: list[Any] = await self._list_repls(keys=[user_repls_key(user_id)])
        listed = []
        for meta, state, event in zip(replies[::3], replies[1::3], replies[2::3], strict=True):
            repl = _repl_from_hash(_texts(dict(zip(meta[::2], meta[1::2], strict=True))))
            if repl is not None:
                listed.append((repl, state or None, json.loads(event) if event else None))
        return sorted(listed, key=lambda item: item[0].id)

    async def remove_repl(self, repl: Repl) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(repl_meta_key(repl.id), active_session_key(repl.id))
            pipe.srem(user_repls_key(repl.owner_id), repl.id)
            pipe.srem(ACTIVE_SESSIONS, repl.id)
            await pipe.execute()

    # Sessions

    async def claim_start(self, repl_id: str, owner_id: str, fields: dict[str, str], *,
                          max_active: int = 1 << 30, max_starting: int = 1 << 30) -> str:
        """Claim the session for a start: answers "claimed", the state of the session
        already there, "user-limit" or "busy"."""
        found = await self._claim_start(
            keys=[active_session_key(repl_id), ACTIVE_SESSIONS, user_repls_key(owner_id),
                  STARTING_SESSIONS],
            args=[repl_id, max_active, max_starting, *_flat(fields)],
        )
        return str(found)

    async def claim_stop(self, repl_id: str, op: str, only_from: str = "") -> str:
        """Move the session to "stopping" under `op` (only from state `only_from`, when
        given); answers the state found."""
        found = await self._claim_stop(keys=[active_session_key(repl_id)],
                                       args=[op, only_from])
        return str(found)

    async def claim_orphan(self, repl_id: str, fields: dict[str, str]) -> bool:
        """Give a workload with no session a session of `fields`; False if it has one."""
        claimed = await self._claim_orphan(
            keys=[active_session_key(repl_id), ACTIVE_SESSIONS], args=[repl_id, *_flat(fields)])
        return bool(claimed)

    async def session(self, repl_id: str) -> dict[str, str]:
        return _texts(await self.redis.hgetall(active_session_key(repl_id)))

    async def session_state(self, repl_id: str) -> str | None:
        return _text(await self.redis.hget(active_session_key(repl_id), "state"))

    async def update_session(self, repl_id: str, op: str, fields: dict[str, str],
                             event: dict[str, Any]) -> bool:
        """Record and publish a progress event, if `op` still owns the session."""
        payload = json.dumps(event)
        done = await self._publish(
            keys=[active_session_key(repl_id), events_channel(repl_id)],
            args=[op, payload, "event", payload, *_flat(fields)],
        )
        return bool(done)

    async def beat(self, repl_id: str, op: str, now: float) -> bool:
        return bool(await self._beat(keys=[active_session_key(repl_id)], args=[op, now]))

    async def end_session(self, repl_id: str, event: dict[str, Any]) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(active_session_key(repl_id))
            pipe.srem(ACTIVE_SESSIONS, repl_id)
            pipe.publish(events_channel(repl_id), json.dumps(event))
            await pipe.execute()

    async def active_sessions(self) -> set[str]:
        return cast(set[str], await self.redis.smembers(ACTIVE_SESSIONS))

    # Users and browser sign-ins

    async def save_user(self, user: User) -> None:
        profile = {name: str(value) for name, value in user.to_json().items()}
        await self.redis.hset(user_key(user.id), mapping=cast(Any, profile))

    async def get_user(self, user_id: str) -> User | None:
        values = _texts(await self.redis.hgetall(user_key(user_id)))
        if not values:
            return None
        return User(**{name: values.get(name, "") for name in User.__slots__})

    async def add_web_session(self, sid: str, user: User, ttl: int) -> None:
        # The profile rides along with the sign-in, so recognising a browser on every
        # request is one GET; a new sign-in brings a fresh copy.
        record = json.dumps({"user": user.to_json(), "expiresAt": time.time() + ttl})
        await self.redis.set(web_session_key(sid), record, ex=ttl)

    async def web_session(self, sid: str) -> tuple[User, float] | None:
        """The user behind a sign-in and when it expires (epoch seconds)."""
        raw = _text(await self.redis.get(web_session_key(sid)))
        if raw is None:
            return None
        record = json.loads(raw)
        return User(**record["user"]), float(record["expiresAt"])

    async def remove_web_session(self, sid: str) -> None:
        await self.redis.delete(web_session_key(sid))

    # Personal API tokens

    async def add_token(self, token: ApiToken) -> None:
        record = json.dumps(
            {"id": token.id, "name": token.name, "createdAt": token.created_at,
             "hash": token.token_hash}
        )
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(user_tokens_key(token.user_id), token.id, record)
            pipe.set(api_token_key(token.token_hash), f"{token.user_id}:{token.id}")
            await pipe.execute()

    async def list_tokens(self, user_id: str) -> list[ApiToken]:
        records = _texts(await self.redis.hgetall(user_tokens_key(user_id)))
        tokens = [_token_from_record(user_id, raw) for raw in records.values()]
        return sorted(tokens, key=lambda token: token.created_at)

    async def remove_token(self, user_id: str, token_id: str) -> bool:
        raw = _text(await self.redis.hget(user_tokens_key(user_id), token_id))
        if raw is None:
            return False
        token = _token_from_record(user_id, raw)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(user_tokens_key(user_id), token_id)
            pipe.delete(api_token_key(token.token_hash))
            await pipe.execute()
        return True

    async def token_owner(self, token_hash: str) -> str | None:
        value = _text(await self.redis.get(api_token_key(token_hash)))
        return None if value is None else value.split(":", 1)[0]


def _token_from_record(user_id: str, raw: str) -> ApiToken:
    record = json.loads(raw)
    return ApiToken(
        id=record["id"], name=record["name"], user_id=user_id,
        created_at=record["createdAt"], token_hash=record["hash"],
    )

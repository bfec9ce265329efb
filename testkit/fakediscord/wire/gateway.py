"""The fake gateway: HELLO, IDENTIFY -> READY + GUILD_CREATE, heartbeats, RESUME.

Every session keeps the events dispatched to it (with their sequence numbers)
so a client that drops and RESUMEs gets what it missed, the way Discord does;
that is what lets tests prove a MESSAGE_CREATE sent during an outage is not
lost. Frames go out through one queue per connection so sequence order on the
wire is the order of dispatch.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from bot.core.tasks import cancel_and_wait
from testkit.fakediscord.wire.intents import (
    GUILD_MEMBERS,
    PRIVILEGED_INTENTS,
)
from testkit.fakediscord.wire.payloads import guild_create_payload, ready_payload

if TYPE_CHECKING:
    from testkit.fakediscord.api import FakeDiscord

log = logging.getLogger(__name__)

OP_DISPATCH = 0
OP_HEARTBEAT = 1
OP_IDENTIFY = 2
OP_PRESENCE = 3
OP_VOICE = 4
OP_RESUME = 6
OP_RECONNECT = 7
OP_REQUEST_MEMBERS = 8
OP_INVALID_SESSION = 9
OP_HELLO = 10
OP_HEARTBEAT_ACK = 11


@dataclass
class DispatchRecord:
    """One event dispatched to one session (what the client was sent, or will be on resume)."""

    t: float
    session_id: str
    seq: int
    type: str
    data: dict[str, Any]


@dataclass
class GatewayConnectionRecord:
    """One websocket connection: which URL path it used and what it did."""

    t: float
    path: str
    query: dict[str, str]
    op: str | None = None  # "identify" | "resume" once known
    session_id: str | None = None
    close_code: int | None = None


@dataclass
class Session:
    id: str
    intents: int
    seq: int = 0
    events: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    conn: Connection | None = None
    invalid: bool = False


class Connection:
    def __init__(self, ws: web.WebSocketResponse, request: web.Request, compress: bool) -> None:
        self.ws = ws
        self.request = request
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.session: Session | None = None
        self.compressor = zlib.compressobj() if compress else None
        self.writer: asyncio.Task[None] | None = None
        self.dead = False
        self.sent_close: int | None = None

    def send(self, frame: dict[str, Any]) -> None:
        if not self.dead:
            self.queue.put_nowait(frame)

    async def write_loop(self) -> None:
        while True:
            frame = await self.queue.get()
            if frame is None or self.ws.closed:
                return
            raw = json.dumps(frame)
            try:
                if self.compressor is not None:
                    data = self.compressor.compress(raw.encode()) + self.compressor.flush(
                        zlib.Z_SYNC_FLUSH
                    )
                    await self.ws.send_bytes(data)
                else:
                    await self.ws.send_str(raw)
            except (ConnectionError, RuntimeError):
                return

    def kill(self) -> None:
        """Drop the TCP connection without a close frame (a network outage)."""
        self.dead = True
        transport = self.request.transport
        if transport is not None:
            transport.abort()
        self.queue.put_nowait(None)


class Gateway:
    """All gateway sessions of the fake's single bot user."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.sessions: dict[str, Session] = {}
        self.connections: list[Connection] = []
        self.records: list[GatewayConnectionRecord] = []
        self.dispatched: list[DispatchRecord] = []
        self._open = asyncio.Event()
        self._open.set()
        self._handlers: set[asyncio.Task[Any]] = set()

    # -- dispatching -----------------------------------------------------------
    def dispatch(
        self,
        event: str,
        data: dict[str, Any] | Callable[[Session], dict[str, Any] | None],
        *,
        intent: int | None,
    ) -> None:
        """Send an event to every live session subscribed to `intent`.

        `data` may be a function of the session, for per-session views (message
        content depends on the session's intents). Returning None skips it.
        """
        for session in list(self.sessions.values()):
            if session.invalid:
                continue
            if intent is not None and not session.intents & intent:
                continue
            payload = data(session) if callable(data) else data
            if payload is None:
                continue
            self._dispatch_to(session, event, payload)

    def _dispatch_to(self, session: Session, event: str, payload: dict[str, Any]) -> None:
        session.seq += 1
        frame = {"op": OP_DISPATCH, "t": event, "s": session.seq, "d": payload}
        session.events.append((session.seq, frame))
        self.dispatched.append(
            DispatchRecord(time.monotonic(), session.id, session.seq, event, payload)
        )
        if session.conn is not None:
            session.conn.send(frame)
        self.fake._changed()

    # -- control ---------------------------------------------------------------
    def drop_connections(self, *, hold: bool = False) -> int:
        if hold:
            self._open.clear()
        count = 0
        for conn in list(self.connections):
            if conn.session is not None and conn.session.conn is conn:
                conn.session.conn = None
            conn.kill()
            count += 1
        self.fake._changed()
        return count

    def release(self) -> None:
        self._open.set()

    def live_sessions(self) -> list[Session]:
        return [s for s in self.sessions.values() if not s.invalid and s.conn is not None]

    async def close_all(self) -> None:
        self._open.set()
        for conn in list(self.connections):
            conn.dead = True
            conn.queue.put_nowait(None)
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1001, message=b"fake discord stopping")
        await cancel_and_wait(*self._handlers)

    # -- the websocket -----------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            return await self._handle(request)
        finally:
            if task is not None:
                self._handlers.discard(task)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        record = GatewayConnectionRecord(time.monotonic(), request.path, dict(request.query))
        self.records.append(record)
        await self._open.wait()
        compress = request.query.get("compress") == "zlib-stream"
        conn = Connection(ws, request, compress)
        self.connections.append(conn)
        conn.writer = asyncio.create_task(conn.write_loop())
        conn.send(
            {
                "op": OP_HELLO,
                "d": {"heartbeat_interval": self.fake.rules.heartbeat_interval_ms},
                "s": None,
                "t": None,
            }
        )
        self.fake._changed()
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    await self._close(conn, 4002, "Decode error: send JSON text frames")
                    break
                try:
                    frame = json.loads(msg.data)
                    op = frame["op"]
                except (ValueError, KeyError, TypeError):
                    await self._close(conn, 4002, "Decode error")
                    break
                if not await self._on_frame(conn, record, op, frame.get("d")):
                    break
        finally:
            record.close_code = conn.sent_close or ws.close_code
            if conn.session is not None and conn.session.conn is conn:
                conn.session.conn = None
                # A client that closes with 1000/1001 ends its session (Discord
                # forgets it); any other end leaves it resumable.
                if ws.close_code in (1000, 1001) and not conn.dead:
                    conn.session.invalid = True
            conn.dead = True
            conn.queue.put_nowait(None)
            if conn.writer is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(conn.writer, timeout=5)
            if conn in self.connections:
                self.connections.remove(conn)
            self.fake._changed()
        return ws

    async def _close(self, conn: Connection, code: int, reason: str) -> None:
        log.info("fake gateway closing a connection: %s %s", code, reason)
        conn.queue.put_nowait(None)
        if conn.writer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.writer, timeout=5)
        conn.dead = True
        conn.sent_close = code
        await conn.ws.close(code=code, message=reason.encode())

    async def _on_frame(
        self, conn: Connection, record: GatewayConnectionRecord, op: int, d: Any
    ) -> bool:
        fake = self.fake
        if op == OP_HEARTBEAT:
            conn.send({"op": OP_HEARTBEAT_ACK, "d": None, "s": None, "t": None})
            return True
        if op == OP_IDENTIFY:
            if conn.session is not None:
                await self._close(conn, 4005, "Already authenticated")
                return False
            if not isinstance(d, dict) or _strip_bot(d.get("token")) != fake.token:
                await self._close(conn, 4004, "Authentication failed")
                return False
            intents = d.get("intents")
            if not isinstance(intents, int) or intents < 0:
                await self._close(conn, 4013, "Invalid intent(s)")
                return False
            if intents & PRIVILEGED_INTENTS & ~fake.rules.privileged_intents:
                await self._close(conn, 4014, "Disallowed intent(s)")
                return False
            session = Session(id=secrets.token_hex(16), intents=intents)
            self.sessions[session.id] = session
            session.conn = conn
            conn.session = session
            record.op, record.session_id = "identify", session.id
            self._dispatch_to(session, "READY", ready_payload(fake, session, d.get("shard")))
            self._dispatch_to(session, "GUILD_CREATE", guild_create_payload(fake))
            return True
        if op == OP_RESUME:
            if not isinstance(d, dict) or _strip_bot(d.get("token")) != fake.token:
                await self._close(conn, 4004, "Authentication failed")
                return False
            known = self.sessions.get(str(d.get("session_id")))
            record.op = "resume"
            if known is None or known.invalid:
                conn.send({"op": OP_INVALID_SESSION, "d": False, "s": None, "t": None})
                return True
            session = known
            if session.conn is not None and session.conn is not conn:
                old = session.conn
                session.conn = None
                old.kill()
            record.session_id = session.id
            session.conn = conn
            conn.session = session
            seq = d.get("seq") or 0
            for event_seq, frame in session.events:
                if event_seq > seq:
                    conn.send(frame)
            self._dispatch_to(session, "RESUMED", {})
            return True
        if conn.session is None:
            await self._close(conn, 4003, "Not authenticated")
            return False
        if op == OP_REQUEST_MEMBERS:
            self._request_members(conn.session, d if isinstance(d, dict) else {})
            return True
        if op in (OP_PRESENCE, OP_VOICE):
            return True
        await self._close(conn, 4001, f"Unknown opcode {op}")
        return False

    def _request_members(self, session: Session, d: dict[str, Any]) -> None:
        fake = self.fake
        model = fake.model
        user_ids = d.get("user_ids")
        not_found: list[str] = []
        if user_ids is not None:
            ids = [int(u) for u in (user_ids if isinstance(user_ids, list) else [user_ids])]
            members = [model.member_payload(u) for u in ids if u in model.members]
            not_found = [str(u) for u in ids if u not in model.members]
        else:
            query = str(d.get("query") or "")
            limit = int(d.get("limit") or 0)
            if not query and not session.intents & GUILD_MEMBERS:
                fake._violate(
                    "GATEWAY",
                    "op 8 REQUEST_GUILD_MEMBERS",
                    "",
                    ["requesting the whole member list needs the GUILD_MEMBERS intent"],
                    d,
                )
                members = []
            else:
                members = [
                    model.member_payload(uid)
                    for uid, m in model.members.items()
                    if m.user.name.lower().startswith(query.lower())
                ]
                if limit:
                    members = members[:limit]
        chunk: dict[str, Any] = {
            "guild_id": str(model.id),
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
        }
        if not_found:
            chunk["not_found"] = not_found
        if d.get("nonce") is not None:
            chunk["nonce"] = d["nonce"]
        self._dispatch_to(session, "GUILD_MEMBERS_CHUNK", chunk)


def _strip_bot(token: Any) -> str | None:
    if not isinstance(token, str):
        return None
    return token[4:] if token.startswith("Bot ") else token

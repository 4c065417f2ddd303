"""scripts/bench/bot: a Telegram bot under a burst of updates, Atelier next to aiogram 3.

A fake Telegram Bot API (FakeTelegram below: asyncio, in this process, on 127.0.0.1) speaks the
real wire format (POST /bot<token>/<method>, JSON or form bodies, {"ok": true, "result": ...}).
Each round it makes --updates `message` updates with the command /help from --chats private
chats available at once (the burst); each chat must get exactly as many answers as it sent.
The bots, each with its own token and its own state in the fake (offsets and limits never mix):
  - Atelier (release build): `atelier serve`, a studio bot in polling mode added and started
    through the admin API.
  - aiogram 3 (reference/aiogram_bot.py): Dispatcher.start_polling with a /help handler that
    answers a fixed text with message.answer, as its users write it (no throttling middleware).

--mode limits (the default; issue 20, item 11): 5,000 updates from 500 chats, one round of each
bot. The fake enforces Telegram's flood limits per token on every send (sendMessage, sendPhoto,
sendDocument, sendMediaGroup, editMessageText, ...; sendChatAction and answerCallbackQuery are
exempt): at most 30 sends in any sliding second overall; to one private chat (positive id) at
most 3 in any sliding second and 12 in any sliding 10 s; to one group (negative id) at most 20 in
any sliding minute. A send that would break a limit is not delivered: it gets HTTP 429 with
retry_after N (N = whole seconds until it would be allowed), counts as a violation, and blocks
that chat (and the whole bot, when the overall limit was hit) for N seconds. A send to a blocked
chat, or any send while the bot is blocked, is an early retry: 429 again, not delivered.
Figures per bot:
  intake       updates taken in per second: from the first update getUpdates handed out to the
               moment the last of the burst was handed out (one handed out again counts once);
  replies/s    delivered replies / seconds from the burst to the last delivered reply;
  allowed/s    what the limits allow for the workload: min(30, what the per-chat limits allow
               for its chats), and replies/allowed (target ≥ 0.95, with no reply missing);
  violations, early retries (target 0 and 0), missing replies, duplicates, CPU s, peak RSS.
Atelier runs with its defaults (it keeps Telegram's limits itself). A round ends when every update
got its reply, after --round-timeout (default N/30 × 1.5 + 30 s), or after --idle-timeout seconds
without a send or a new update handed out (aiogram drops an update whose send got a 429, so it
goes quiet long before the timeout). The exit status is 1 when Atelier misses a target.

--mode raw: raw speed. Default 2000 updates from 1000 chats, a warm-up and 3 rounds of each bot,
interleaved, medians shown; the fake enforces no limits. Atelier's global flood limit is raised to
100,000/s (ATELIER_TELEGRAM_MESSAGES_PER_SECOND), since aiogram keeps none; its per-chat limit
(about 1 a second after a burst of 3) stays, so the default sends 2 updates per chat and the
rounds of one bot start at least --pause seconds apart, long enough for the chats' buckets to
fill again. Figures: updates/s from the burst to the last answer, and the ratio.

In both modes CPU is user+sys of the bot's process (all its threads) from the burst to a second
after its last answer (so the bookkeeping after the answers counts); peak RSS is its VmHWM at the
end. Every process shares this machine's cores, the fake's included.
"""
import argparse
import asyncio
import collections
import email
import itertools
import json
import math
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from http_bench import free_port, wait_ready  # noqa: E402

ADMIN_PASSWORD = "bench-password-1"
FIRST_USER_ID = 10_000_000
# After the last expected answer, how long the fake keeps counting before it reports, so an
# update answered twice shows as a duplicate.
GRACE_SECONDS = 1.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# Methods that put a message in a chat, which Telegram's flood limits count; sendChatAction and
# answerCallbackQuery are not among them.
SEND_METHODS = {"sendmessage", "sendphoto", "senddocument", "sendmediagroup", "editmessagetext", "sendvideo",
                "sendanimation", "sendaudio", "sendvoice", "sendsticker", "sendinvoice", "copymessage",
                "forwardmessage", "editmessagecaption", "editmessagemedia", "editmessagereplymarkup"}
# Telegram's limits for one bot (https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this)
# as (most sends, in any sliding window of this many seconds).
GLOBAL_LIMIT = (30, 1.0)
PRIVATE_LIMITS = ((3, 1.0), (12, 10.0))
GROUP_LIMITS = ((20, 60.0),)


def new_token(bot_id):
    """A token of Telegram's shape: the bot's id, a colon, 35 characters of [A-Za-z0-9_-]."""
    return f"{bot_id}:AA{secrets.token_urlsafe(27)[:33]}"


class BotState:
    """What the fake keeps for one token: its updates, who it answered, the round being timed."""

    def __init__(self, bot_id, name):
        self.user = {"id": bot_id, "is_bot": True, "first_name": name, "username": f"{name}_{bot_id}_bot",
                     "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}
        # (update_id, JSON bytes), in update_id order; Telegram starts a bot's ids at a random number.
        self.pending = collections.deque()
        self.next_update_id = 300_000_000
        self.arrived = asyncio.Event()
        self.polls = 0
        self.polling = threading.Event()
        self.message_ids = collections.defaultdict(int)
        self.calls = collections.Counter()
        self.round = None
        # sendMessage calls outside a round (late answers of a timed-out round, or stray ones).
        self.stray = 0
        self.flood = FloodLimits()
        # The last send (delivered or refused) or newly handed-out update: a round with none for
        # --idle-timeout seconds ends.
        self.last_progress = time.monotonic()


class FloodLimits:
    """Telegram's flood limits for one bot, kept the strict way: a send at `now` is delivered only
    when every sliding window (now - w, now] still has room. A refused send blocks its chat (and,
    when the overall limit was hit, the bot) for the retry_after it was told."""

    def __init__(self):
        self.sent = collections.deque()  # delivered sends of the last second, oldest first
        self.chat_sent = collections.defaultdict(collections.deque)  # per chat, its longest window
        self.blocked_until = 0.0
        self.chat_blocked_until = {}
        self.violations = 0
        self.early_retries = 0
        self.delivered = 0

    def check(self, chat, now):
        """None when the send to `chat` is delivered (and counted), else its retry_after."""
        remaining = max(self.blocked_until, self.chat_blocked_until.get(chat, 0.0)) - now
        # A millisecond of slack for float arithmetic: both clocks are this machine's monotonic one,
        # and a client that waited retry_after from receiving the 429 arrives after it.
        if remaining > 0.001:
            self.early_retries += 1
            return max(1, math.ceil(remaining))
        count, window = GLOBAL_LIMIT
        while self.sent and self.sent[0] <= now - window:
            self.sent.popleft()
        global_at = self.sent[-count] + window if len(self.sent) >= count else now
        limits = GROUP_LIMITS if chat < 0 else PRIVATE_LIMITS
        longest = max(window for _, window in limits)
        mine = self.chat_sent[chat]
        while mine and mine[0] <= now - longest:
            mine.popleft()
        # The earliest instant each window has room again: when the count-th newest send leaves it.
        chat_at = max([mine[-count] + window for count, window in limits if len(mine) >= count], default=now)
        if max(global_at, chat_at) > now:
            self.violations += 1
            retry_after = max(1, math.ceil(max(global_at, chat_at) - now))
            self.chat_blocked_until[chat] = now + retry_after
            if global_at > now:
                self.blocked_until = now + max(1, math.ceil(global_at - now))
            return retry_after
        self.sent.append(now)
        mine.append(now)
        self.delivered += 1
        return None


def chat_burst_seconds(replies):
    """How long `replies` replies due at once to one private chat take at the least: each goes as
    soon as every per-chat window has room (3 at once, then 3 a second up to 12 in 10 s)."""
    times = []
    for _ in range(replies):
        at = times[-1] if times else 0.0
        for count, window in PRIVATE_LIMITS:
            if len(times) >= count:
                at = max(at, times[-count] + window)
        times.append(at)
    return times[-1]


def allowed_rate(updates, chats):
    """Replies a second the limits allow for `updates` replies due at once to `chats` private chats:
    the overall 30/s, or less when the busiest chat's own limits make the burst last longer."""
    seconds = chat_burst_seconds(-(-updates // chats))
    per_chat = updates / seconds if seconds > 0 else math.inf
    return min(GLOBAL_LIMIT[0] / GLOBAL_LIMIT[1], per_chat)


class Round:
    def __init__(self, expected):
        self.expected = expected
        self.answers = collections.Counter()
        self.waiting_chats = len(expected)
        self.unknown = 0
        self.start = None
        self.last = None
        self.done = threading.Event()


class LimitsRound:
    """One round of --mode limits: what was handed out and replied, with the flood counters at its start."""

    def __init__(self, expected, first_id, last_id, flood):
        self.expected = expected
        self.first_id = first_id
        self.last_id = last_id
        self.replies = collections.Counter()
        self.waiting_chats = len(expected)
        self.unknown = 0
        self.handed = set()
        self.first_handout = None
        self.all_handed = None
        self.start = None
        self.last_reply = None
        self.done = threading.Event()
        self.violations_before = flood.violations
        self.early_before = flood.early_retries


class FakeTelegram:
    """The fake Bot API, on its own event loop in a thread so the bench's main thread stays plain
    blocking code (starting processes, the admin API of Atelier) while the fake answers. With
    `limits` it keeps Telegram's flood limits on every send (FloodLimits)."""

    def __init__(self, limits=False):
        self.limits = limits
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.bots = {}
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fake-telegram", daemon=True)
        self.server = None
        self.connections = {}

    def start(self):
        async def serve():
            self.server = await asyncio.start_server(self.connection, "127.0.0.1", self.port, limit=16 << 20, backlog=1024)

        self.thread.start()
        self.call(serve())

    def call(self, coroutine, timeout=30):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self):
        async def shutdown():
            # Ends every connection's task without cancelling it (asyncio's stream callback logs
            # a cancelled handler as an error): long polls return, reads see the end.
            if self.server:
                self.server.close()
            for state in self.bots.values():
                state.arrived.set()
            for writer in list(self.connections.values()):
                writer.transport.abort()
            if self.connections:
                await asyncio.wait(list(self.connections), timeout=5)

        try:
            self.call(shutdown(), timeout=15)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=15)

    def add_bot(self, bot_id, name):
        token = new_token(bot_id)

        async def add():
            self.bots[token] = BotState(bot_id, name)

        self.call(add())
        return token

    def wait_polling(self, token, proc, timeout=120):
        """Until the bot made its first getUpdates (so a round does not time its start-up)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.bots[token].polling.wait(0.2):
                return
            if proc.poll() is not None:
                raise RuntimeError(f"the bot exited with {proc.returncode} before polling")
        raise RuntimeError(f"no getUpdates after {timeout} s")

    def start_burst(self, state, updates, chats, make_round):
        """Makes a round's updates available at once (in the fake's loop); returns the answers
        that came outside any round since the last one."""
        async def burst():
            expected, batch = make_batch(state, updates, chats)
            stray, state.stray = state.stray, 0
            state.round = make_round(expected, batch)
            state.pending.extend(batch)
            state.arrived.set()
            return stray
        return self.call(burst())

    @staticmethod
    def finisher(state):
        """A coroutine function that ends the current round and returns it."""
        async def finish():
            current, state.round = state.round, None
            return current
        return finish

    def run_round(self, token, updates, chats, timeout):
        """Makes `updates` updates available at once and waits until each got its answer (or
        `timeout`). Returns the round's figures; errors name missing and duplicate answers."""
        state = self.bots[token]

        def make_round(expected, batch):
            current = Round(expected)
            current.start = time.perf_counter()
            return current

        stray_before = self.start_burst(state, updates, chats, make_round)
        finish = self.finisher(state)
        current = self.bots[token].round
        finished = current.done.wait(timeout)
        if finished:
            time.sleep(GRACE_SECONDS)
        current = self.call(finish())
        missing = sum(max(0, n - current.answers[chat]) for chat, n in current.expected.items())
        duplicates = sum(max(0, current.answers[chat] - n) for chat, n in current.expected.items())
        answered = sum(min(n, current.answers[chat]) for chat, n in current.expected.items())
        errors = []
        if not finished:
            errors.append(f"timed out after {timeout} s")
        if missing:
            errors.append(f"{missing} updates without an answer")
        if duplicates:
            errors.append(f"{duplicates} answers more than updates")
        if current.unknown:
            errors.append(f"{current.unknown} answers to chats that sent nothing")
        if stray_before:
            errors.append(f"{stray_before} answers outside any round before this one")
        wall = (current.last - current.start) if finished else timeout
        return {"updates": updates, "answered": answered, "wall_s": wall, "updates_per_s": answered / wall,
                "errors": errors}

    def run_limits_round(self, token, updates, chats, timeout, idle_timeout):
        """--mode limits: makes `updates` updates available at once and waits until each got its
        reply, or `timeout`, or `idle_timeout` seconds without progress. Returns the figures."""
        state = self.bots[token]

        def make_round(expected, batch):
            current = LimitsRound(expected, batch[0][0], batch[-1][0], state.flood)
            current.start = current_progress = time.monotonic()
            state.last_progress = current_progress
            return current

        stray_before = self.start_burst(state, updates, chats, make_round)
        finish = self.finisher(state)
        current = state.round
        deadline = current.start + timeout
        ended = "timeout"
        while time.monotonic() < deadline:
            if current.done.wait(0.5):
                ended = "done"
                time.sleep(GRACE_SECONDS)
                break
            if idle_timeout and time.monotonic() - state.last_progress > idle_timeout:
                ended = "idle"
                break
        end = time.monotonic()
        current = self.call(finish())
        flood = state.flood
        missing = sum(max(0, n - current.replies[chat]) for chat, n in current.expected.items())
        duplicates = sum(max(0, current.replies[chat] - n) for chat, n in current.expected.items())
        replied = sum(min(n, current.replies[chat]) for chat, n in current.expected.items())
        errors = []
        if ended == "timeout":
            errors.append(f"timed out after {timeout:.0f} s")
        elif ended == "idle":
            errors.append(f"no send and no new update for {idle_timeout:.0f} s")
        if missing:
            errors.append(f"{missing} updates without a reply")
        if duplicates:
            errors.append(f"{duplicates} replies more than updates")
        if current.unknown:
            errors.append(f"{current.unknown} replies to chats that sent nothing")
        if stray_before:
            errors.append(f"{stray_before} replies outside any round before this one")
        taken_in = len(current.handed)
        if current.all_handed is not None and current.all_handed > current.first_handout:
            intake = updates / (current.all_handed - current.first_handout)
        elif current.all_handed is not None:
            intake = math.inf  # the whole burst in one getUpdates
        else:
            intake = taken_in / (end - current.first_handout) if current.first_handout else 0.0
            errors.append(f"only {taken_in} of {updates} updates taken in")
        replies_wall = (current.last_reply - current.start) if current.last_reply else 0.0
        return {"updates": updates, "replied": replied, "missing": missing, "duplicates": duplicates,
                "intake_per_s": intake, "intake_s": (current.all_handed or end) - (current.first_handout or end),
                "replies_per_s": replied / replies_wall if replies_wall > 0 else 0.0, "replies_s": replies_wall,
                "violations": flood.violations - current.violations_before,
                "early_retries": flood.early_retries - current.early_before,
                "wall_s": end - current.start, "errors": errors}

    # HTTP/1.1 on asyncio streams rather than aiohttp's server: the fake answers every request of
    # both bots, and aiohttp's server topped out near 2,900 sendMessage/s on one core here, which a
    # fast bot could reach. Keep-alive, Content-Length or chunked bodies, one request at a time
    # per connection (neither client pipelines).

    async def connection(self, reader, writer):
        self.connections[asyncio.current_task()] = writer
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                _, target, version = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                if headers.get("expect", "").lower() == "100-continue":
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                if "chunked" in headers.get("transfer-encoding", "").lower():
                    body = await read_chunked(reader)
                else:
                    body = await reader.readexactly(int(headers.get("content-length") or 0))
                status, answer = await self.answer(target, headers, body)
                close = headers.get("connection", "").lower() == "close" or version.strip() == "HTTP/1.0"
                writer.write(b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n"
                             % (status, REASONS[status], len(answer), b"Connection: close\r\n" if close else b"") + answer)
                if close:
                    await writer.drain()
                    return
                if writer.transport.get_write_buffer_size() > 1 << 20:
                    await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
            return
        finally:
            self.connections.pop(asyncio.current_task(), None)
            writer.close()

    async def answer(self, target, headers, body):
        """(HTTP status, JSON bytes) for one Bot API request: /bot<token>/<method>."""
        path, _, query = target.partition("?")
        parts = path.split("/")
        if len(parts) != 3 or not parts[1].startswith("bot"):
            return 404, b'{"ok":false,"error_code":404,"description":"Not Found"}'
        state = self.bots.get(urllib.parse.unquote(parts[1][3:]))
        if state is None:
            return 401, b'{"ok":false,"error_code":401,"description":"Unauthorized"}'
        method = parts[2].lower()
        state.calls[method] += 1
        try:
            params = request_params(query, headers.get("content-type", ""), body)
            if method == "getupdates":
                return 200, await self.get_updates(state, params)
            if self.limits and method in SEND_METHODS:
                return self.limited_send(state, method, params)
            if method == "sendmessage":
                result = self.send_message(state, params)
            else:
                result = self.other(state, method, params)
        except (ValueError, KeyError, TypeError) as error:
            return 400, json.dumps({"ok": False, "error_code": 400, "description": f"Bad Request: {error}"}).encode()
        return 200, json.dumps({"ok": True, "result": result}).encode()

    @staticmethod
    def other(state, method, params):
        if method == "getme":
            return state.user
        if method == "getwebhookinfo":
            return {"url": "", "has_custom_certificate": False, "pending_update_count": len(state.pending)}
        if method == "deletewebhook" and truthy(params.get("drop_pending_updates")):
            state.pending.clear()
        # deleteWebhook, setMyCommands, sendChatAction and anything else.
        return True

    def limited_send(self, state, method, params):
        """A send under the flood limits: delivered (and counted as a reply), or 429."""
        state.last_progress = now = time.monotonic()
        chat_id = params.get("chat_id")
        if chat_id is None:
            # editMessageText of an inline message: no chat to count it against.
            return 200, b'{"ok":true,"result":true}'
        chat = int(chat_id)
        retry_after = state.flood.check(chat, now)
        if retry_after is not None:
            return 429, json.dumps({"ok": False, "error_code": 429, "description": f"Too Many Requests: retry after {retry_after}",
                                    "parameters": {"retry_after": retry_after}}).encode()
        current = state.round
        if not isinstance(current, LimitsRound):
            state.stray += 1
        elif chat not in current.expected:
            current.unknown += 1
        else:
            current.replies[chat] += 1
            current.last_reply = now
            if current.replies[chat] == current.expected[chat]:
                current.waiting_chats -= 1
                if current.waiting_chats == 0:
                    current.done.set()
        state.message_ids[chat] += 1
        message = {"message_id": state.message_ids[chat], "date": int(time.time()),
                   "chat": {"id": chat, "type": "private" if chat > 0 else "group", "first_name": f"User{chat - FIRST_USER_ID}"},
                   "from": {key: state.user[key] for key in ("id", "is_bot", "first_name", "username")},
                   "text": params.get("text", "")}
        result = [message] if method == "sendmediagroup" else message
        return 200, json.dumps({"ok": True, "result": result}).encode()

    async def get_updates(self, state, params):
        offset = int(params.get("offset") or 0)
        limit = min(100, max(1, int(params.get("limit") or 100)))
        timeout = max(0, int(params.get("timeout") or 0))
        state.polls += 1
        state.polling.set()
        # An offset confirms every update below it: Telegram forgets them.
        while offset > 0 and state.pending and state.pending[0][0] < offset:
            state.pending.popleft()
        if not state.pending and timeout > 0:
            state.arrived.clear()
            try:
                await asyncio.wait_for(state.arrived.wait(), timeout)
            except asyncio.TimeoutError:
                pass
        if offset < 0:
            # Telegram: a negative offset takes the last -offset updates.
            chosen = list(state.pending)[offset:][:limit]
        else:
            chosen = list(itertools.islice(state.pending, limit))
        current = state.round
        if isinstance(current, LimitsRound) and chosen and current.all_handed is None:
            now = time.monotonic()
            if current.first_handout is None:
                current.first_handout = now
            before = len(current.handed)
            current.handed.update(uid for uid, _ in chosen if current.first_id <= uid <= current.last_id)
            if len(current.handed) > before:
                state.last_progress = now
            if len(current.handed) == current.last_id - current.first_id + 1:
                current.all_handed = now
        return b'{"ok":true,"result":[' + b",".join(raw for _, raw in chosen) + b"]}"

    def send_message(self, state, params):
        chat = int(params["chat_id"])
        text = params.get("text", "")
        current = state.round
        if current is None:
            state.stray += 1
        elif chat not in current.expected:
            current.unknown += 1
        else:
            current.answers[chat] += 1
            if current.answers[chat] == current.expected[chat]:
                current.waiting_chats -= 1
                if current.waiting_chats == 0:
                    current.last = time.perf_counter()
                    current.done.set()
        state.message_ids[chat] += 1
        return {"message_id": state.message_ids[chat], "date": int(time.time()),
                "chat": {"id": chat, "type": "private", "first_name": f"User{chat - FIRST_USER_ID}"},
                "from": {key: state.user[key] for key in ("id", "is_bot", "first_name", "username")}, "text": text}


REASONS = {200: b"OK", 400: b"Bad Request", 401: b"Unauthorized", 404: b"Not Found", 429: b"Too Many Requests"}


def make_batch(state, updates, chats):
    """(expected answers per chat, [(update_id, JSON bytes)]) for `updates` /help messages from
    `chats` private chats, in turn."""
    now = int(time.time())
    expected = collections.Counter()
    batch = []
    for i in range(updates):
        chat = i % chats
        user_id = FIRST_USER_ID + chat
        expected[user_id] += 1
        user = {"id": user_id, "is_bot": False, "first_name": f"User{chat}", "username": f"bench_user_{chat}",
                "language_code": "ru" if chat % 2 == 0 else "en"}
        update_id = state.next_update_id
        state.next_update_id += 1
        # A person's message ids count up in their chat with the bot, shared with the bot's.
        state.message_ids[user_id] += 1
        message = {"message_id": state.message_ids[user_id], "from": user, "date": now,
                   "chat": {"id": user_id, "type": "private", "first_name": user["first_name"],
                            "username": user["username"]},
                   "text": "/help", "entities": [{"type": "bot_command", "offset": 0, "length": 5}]}
        batch.append((update_id, json.dumps({"update_id": update_id, "message": message}).encode()))
    return expected, batch


async def read_chunked(reader):
    body = bytearray()
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            # Trailer fields, up to the empty line.
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass
            return bytes(body)
        body += await reader.readexactly(size)
        await reader.readexactly(2)


def request_params(query, content_type, body):
    """A method's parameters, as Telegram takes them: query string, JSON, or form fields (where
    every value is text: numbers and JSON objects come as strings)."""
    params = dict(urllib.parse.parse_qsl(query))
    kind = content_type.split(";")[0].strip().lower()
    if not body:
        return params
    if kind == "application/json":
        params.update(json.loads(body))
    elif kind == "application/x-www-form-urlencoded":
        params.update(urllib.parse.parse_qsl(body.decode()))
    elif kind == "multipart/form-data":
        form = email.message_from_bytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
        for part in form.get_payload() if form.is_multipart() else []:
            name = part.get_param("name", header="content-disposition")
            if name:
                payload = part.get_payload(decode=True) or b""
                params[name] = payload if part.get_filename() else payload.decode()
    return params


def truthy(value):
    return value is True or str(value).lower() in ("true", "1")


def cpu_seconds(pid):
    """user + sys of a process and all its threads, from /proc/<pid>/stat (fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def stop_process(proc, timeout=30):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def request(method, url, body=None, token=None):
    """(status, JSON answer) of an Atelier admin call; an error status stops the bench with its body."""
    req = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(), method=method)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as error:
        raise RuntimeError(f"{method} {url}: {error.code} {error.read()[:500].decode(errors='replace')}") from None


class AtelierBot:
    name = "atelier"

    def __init__(self, binary, fake, raise_limit):
        self.work = tempfile.mkdtemp(prefix="atelier-bench-bot-", dir=os.environ.get("BENCH_DIR"))
        self.token = fake.add_bot(7_000_000_001, "atelier")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = dict(os.environ, ATELIER_DATA_DIR=os.path.join(self.work, "data"), ATELIER_PORT=str(port),
                   ATELIER_ADMIN_PASSWORD=ADMIN_PASSWORD, ATELIER_LOG_LEVEL="warning",
                   ATELIER_TELEGRAM_API_URL=fake.base, ATELIER_ALLOW_PRIVATE_HOSTS="true")
        env.pop("DATABASE_URL", None)
        env.pop("ATELIER_TELEGRAM_MESSAGES_PER_SECOND", None)
        if raise_limit:
            env["ATELIER_TELEGRAM_MESSAGES_PER_SECOND"] = "100000"
        self.stderr = os.path.join(self.work, "stderr.log")
        self.proc = subprocess.Popen([binary, "serve"], env=env, cwd=self.work, stdout=subprocess.DEVNULL,
                                     stderr=open(self.stderr, "w"))
        try:
            self.setup(base, fake)
        except BaseException as error:
            tail = stderr_tail(self)
            self.stop()
            raise RuntimeError(f"Atelier's bot did not start: {error}\n{tail}") from None

    def setup(self, base, fake):
        wait_ready(base + "/health", self.proc)
        _, login = request("POST", base + "/admin/auth/login", {"username": "admin", "password": ADMIN_PASSWORD})
        admin = login["access_token"]
        status, bot = request("POST", base + "/admin/telegram/bots",
                              {"name": "bench", "token": self.token, "kind": "studio", "mode": "polling"}, token=admin)
        if not isinstance(bot, dict) or "id" not in bot:
            raise RuntimeError(f"POST /admin/telegram/bots answered {status} without an id: {bot}")
        request("POST", f"{base}/admin/telegram/bots/{bot['id']}/start", token=admin)
        fake.wait_polling(self.token, self.proc)

    def stop(self):
        stop_process(self.proc)
        shutil.rmtree(self.work, ignore_errors=True)


class AiogramBot:
    name = "aiogram"

    def __init__(self, fake):
        self.work = tempfile.mkdtemp(prefix="atelier-bench-aiogram-", dir=os.environ.get("BENCH_DIR"))
        self.token = fake.add_bot(7_000_000_002, "aiogram")
        self.stderr = os.path.join(self.work, "stderr.log")
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "reference", "aiogram_bot.py"), fake.base, self.token],
                                     cwd=self.work, stdout=subprocess.DEVNULL, stderr=open(self.stderr, "w"))
        try:
            fake.wait_polling(self.token, self.proc)
        except BaseException as error:
            tail = stderr_tail(self)
            self.stop()
            raise RuntimeError(f"the aiogram bot did not start: {error}\n{tail}") from None

    def stop(self):
        stop_process(self.proc)
        shutil.rmtree(self.work, ignore_errors=True)


def stderr_tail(bot, lines=20):
    try:
        with open(bot.stderr) as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def measure(fake, bot, args, last_end):
    """One round of `bot`: figures, plus the CPU the bot's process spent on it."""
    wait = last_end.get(bot.name, 0) + args.pause - time.monotonic()
    if wait > 0:
        time.sleep(wait)
    if bot.proc.poll() is not None:
        raise RuntimeError(f"{bot.name} exited with {bot.proc.returncode}:\n{stderr_tail(bot)}")
    cpu, fake_cpu = cpu_seconds(bot.proc.pid), cpu_seconds(os.getpid())
    if args.mode == "limits":
        result = fake.run_limits_round(bot.token, args.updates, args.chats, args.round_timeout, args.idle_timeout)
    else:
        result = fake.run_round(bot.token, args.updates, args.chats, args.round_timeout)
    result["cpu_s"] = cpu_seconds(bot.proc.pid) - cpu
    # This process is the fake (the main thread only sleeps meanwhile): its share of one core
    # tells whether the fake, not the bot, set the pace.
    result["fake_cpu_s"] = cpu_seconds(os.getpid()) - fake_cpu
    last_end[bot.name] = time.monotonic()
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["limits", "raw"], default="limits",
                        help="limits: Telegram's flood limits in the fake, Atelier with its defaults (default); "
                             "raw: no limits, raw speed")
    parser.add_argument("--binary", help="Atelier's release build (needed unless --only aiogram)")
    parser.add_argument("--only", choices=["atelier", "aiogram"], help="run one bot only")
    parser.add_argument("--updates", type=int, help="updates in each round's burst (limits: 5000, raw: 2000)")
    parser.add_argument("--chats", type=int,
                        help="distinct private chats the updates come from (limits: 500, raw: 1000; in raw keep "
                             "updates/chats ≤ 3: Atelier's per-chat limit)")
    parser.add_argument("--rounds", type=int, help="counted rounds of each bot, interleaved; medians are shown "
                                                   "(limits: 1, raw: 3)")
    parser.add_argument("--round-timeout", type=float,
                        help="seconds a round may take before it counts as failed (limits: updates/30 × 1.5 + 30, raw: 120)")
    parser.add_argument("--idle-timeout", type=float, default=30,
                        help="limits: a round ends after this many seconds with no send and no new update handed "
                             "out (0: never); default 30")
    parser.add_argument("--pause", type=float,
                        help="least seconds between two rounds of one bot (limits: 11, past the 10 s per-chat "
                             "window; raw: 3, Atelier's per-chat buckets refill at 1/s)")
    args = parser.parse_args()
    limits = args.mode == "limits"
    for name, for_limits, for_raw in (("updates", 5000, 2000), ("chats", 500, 1000), ("rounds", 1, 3), ("pause", 11, 3)):
        if getattr(args, name) is None:
            setattr(args, name, for_limits if limits else for_raw)
    if args.only != "aiogram" and not args.binary:
        parser.error("--binary is needed to run Atelier (or pass --only aiogram)")
    if args.updates < 1 or not 1 <= args.chats <= args.updates:
        parser.error("needs 1 ≤ --chats ≤ --updates")
    if args.rounds < 1:
        parser.error("needs --rounds ≥ 1")
    if args.round_timeout is None:
        args.round_timeout = args.updates / 30 * 1.5 + 30 if limits else 120
    per_chat = -(-args.updates // args.chats)
    if not limits and per_chat > 3 and args.only != "aiogram":
        print(f"note: {per_chat} updates per chat: Atelier's per-chat limit (1/s after a burst of 3) will hold it back",
              file=sys.stderr)

    fake = FakeTelegram(limits=limits)
    fake.start()
    bots = []
    runs = {}
    peaks = {}
    try:
        if args.only != "aiogram":
            bots.append(AtelierBot(os.path.abspath(args.binary), fake, raise_limit=not limits))
        if args.only != "atelier":
            bots.append(AiogramBot(fake))
        last_end = {}
        if not limits:
            # In limits mode a warm-up would cost a full round at 30/s; the first round counts.
            for bot in bots:
                print(f"warm-up: {bot.name}", file=sys.stderr)
                warm = measure(fake, bot, args, last_end)
                if warm["errors"]:
                    print(f"  warm-up of {bot.name}: {'; '.join(warm['errors'])}", file=sys.stderr)
        for number in range(1, args.rounds + 1):
            print(f"round {number}/{args.rounds}", file=sys.stderr)
            for bot in bots:
                if limits:
                    print(f"  {bot.name}: {args.updates} updates from {args.chats} chats ...", file=sys.stderr)
                run = measure(fake, bot, args, last_end)
                runs.setdefault(bot.name, []).append(run)
                if limits:
                    print(f"  {bot.name}: intake {rate_text(run['intake_per_s'])}/s, {run['replies_per_s']:.1f} replies/s, "
                          f"{run['violations']} violations, {run['early_retries']} early retries, {run['missing']} missing, "
                          f"{run['wall_s']:.0f} s" + (f" ({'; '.join(run['errors'])})" if run["errors"] else ""),
                          file=sys.stderr)
                else:
                    print(f"  {bot.name}: {run['updates_per_s']:,.0f} updates/s, {run['wall_s']:.2f} s"
                          + (f" ({'; '.join(run['errors'])})" if run["errors"] else ""), file=sys.stderr)
        for bot in bots:
            peaks[bot.name] = peak_rss_mib(bot.proc.pid)
    finally:
        for bot in bots:
            bot.stop()
        fake.stop()
    if limits:
        sys.exit(report_limits(args, runs, peaks))
    report_raw(args, runs, peaks)


def rate_text(rate):
    return "all at once" if math.isinf(rate) else f"{rate:,.0f}"


def report_limits(args, runs, peaks):
    """Prints the limits table and the verdicts; the exit status (1 when Atelier misses a target)."""
    allowed = allowed_rate(args.updates, args.chats)
    print(f"\n{args.updates} /help updates at once from {args.chats} private chats, through a fake Bot API on 127.0.0.1 "
          f"that keeps Telegram's flood limits; " + (f"medians of {args.rounds} rounds" if args.rounds > 1 else "one round"))
    print(f"Limits allow {allowed:.1f} replies/s for this workload (30/s overall; the per-chat limits allow "
          f"{per_chat_text(args.updates, args.chats)}). Atelier runs with its defaults; aiogram without throttling.")
    medians = {}
    for name, group in runs.items():
        medians[name] = {key: statistics.median(run[key] for run in group)
                         for key in ("intake_per_s", "replies_per_s", "violations", "early_retries", "missing",
                                     "duplicates", "replied", "replies_s", "wall_s", "cpu_s", "fake_cpu_s")}
    print(f"\n{'bot':10} {'intake upd/s':>12} {'replies/s':>10} {'of allowed':>10} {'violations':>10} {'early retries':>13} "
          f"{'replied':>8} {'missing':>8} {'dupl.':>6} {'reply s':>8} {'CPU s':>7} {'peak RSS MB':>12}")
    for name, m in medians.items():
        print(f"{name:10} {rate_text(m['intake_per_s']):>12} {m['replies_per_s']:>10.1f} {m['replies_per_s'] / allowed:>10.2f} "
              f"{m['violations']:>10.0f} {m['early_retries']:>13.0f} {m['replied']:>8.0f} {m['missing']:>8.0f} "
              f"{m['duplicates']:>6.0f} {m['replies_s']:>8.1f} {m['cpu_s']:>7.2f} {peaks.get(name, 0):>12.1f}")
    for name, group in runs.items():
        m = medians[name]
        if m["fake_cpu_s"] > 0.8 * m["wall_s"]:
            print(f"  note: the fake Bot API (one Python thread) was busy {100 * m['fake_cpu_s'] / m['wall_s']:.0f} % of "
                  f"{name}'s rounds: it may have set the pace")
        for number, run in enumerate(group, 1):
            if run["errors"]:
                print(f"  {name}, round {number}: {'; '.join(run['errors'])}")
    failed = False
    print()
    for name, m in medians.items():
        ratio = m["replies_per_s"] / allowed
        verdicts = [("0 violations", m["violations"] == 0, f"{m['violations']:.0f}"),
                    ("0 early retries", m["early_retries"] == 0, f"{m['early_retries']:.0f}"),
                    ("replies ≥ 95 % of allowed, none missing", ratio >= 0.95 and m["missing"] == 0,
                     f"{100 * ratio:.0f} %, {m['missing']:.0f} missing")]
        if name != "aiogram" and "aiogram" in medians:
            theirs = medians["aiogram"]["intake_per_s"]
            verdicts.append(("intake ≥ aiogram's", m["intake_per_s"] >= theirs,
                             f"{rate_text(m['intake_per_s'])} vs {rate_text(theirs)} updates/s"))
        for label, ok, detail in verdicts:
            print(f"{name}: {label}: {'yes' if ok else 'no'} ({detail})")
            failed |= name == "atelier" and not ok
    return 1 if failed else 0


def per_chat_text(updates, chats):
    """What the per-chat limits alone allow for the workload, in words."""
    most = -(-updates // chats)
    seconds = chat_burst_seconds(most)
    if seconds == 0:
        return "any rate: up to 3 replies to a chat go at once"
    return f"{updates / seconds:,.0f}/s: {most} replies to one chat take {seconds:.0f} s"


def report_raw(args, runs, peaks):
    print(f"\n{args.updates} /help updates at once from {args.chats} private chats, answered through a fake Bot API on 127.0.0.1; "
          f"medians of {args.rounds} rounds after a warm-up")
    if args.only != "aiogram":
        print("Atelier's global limit is raised to 100,000 messages/s for this bench (ATELIER_TELEGRAM_MESSAGES_PER_SECOND; "
              "by default it keeps Telegram's 30/s); aiogram keeps no limit. Per-chat limits stay.")
    print(f"{'bot':10} {'updates/s, each round':>26}")
    for name, group in runs.items():
        rates = " ".join(f"{run['updates_per_s']:,.0f}" for run in group)
        print(f"{name:10} {rates:>26}")
    print(f"\n{'bot':10} {'updates/s':>10} {'wall s':>8} {'CPU s':>7} {'CPU ms/update':>14} {'peak RSS MB':>12} {'fake CPU s':>11}")
    medians = {}
    for name, group in runs.items():
        good = [run for run in group if not run["errors"]] or group
        medians[name] = rate = statistics.median(run["updates_per_s"] for run in good)
        wall = statistics.median(run["wall_s"] for run in good)
        cpu = statistics.median(run["cpu_s"] for run in good)
        fake_cpu = statistics.median(run["fake_cpu_s"] for run in good)
        print(f"{name:10} {rate:>10,.0f} {wall:>8.2f} {cpu:>7.2f} {1000 * cpu / args.updates:>14.2f} {peaks.get(name, 0):>12.1f} "
              f"{fake_cpu:>11.2f}")
        if fake_cpu > 0.8 * wall:
            print(f"  note: the fake Bot API (one Python thread) was busy {100 * fake_cpu / wall:.0f} % of the wall time: "
                  f"it may have set {name}'s pace, so the figure is a floor")
        for number, run in enumerate(group, 1):
            if run["errors"]:
                print(f"  error in round {number}: {'; '.join(run['errors'])}")
    if medians.get("atelier", 100) < 40:
        print("  note: near Telegram's 30 messages/s: did this build take ATELIER_TELEGRAM_MESSAGES_PER_SECOND?")
    if "atelier" in medians and "aiogram" in medians:
        print(f"\nAtelier/aiogram, updates/s: {medians['atelier'] / medians['aiogram']:.2f}×")
        if len(runs["atelier"]) == len(runs["aiogram"]):
            print("  in each round: " + " ".join(f"{ours['updates_per_s'] / theirs['updates_per_s']:.2f}×"
                                               for ours, theirs in zip(runs["atelier"], runs["aiogram"])))
    if any(run["errors"] for group in runs.values() for run in group):
        sys.exit(1)


if __name__ == "__main__":
    main()

"""Live fan-out: many viewers, one upstream connection per camera stream.

Viewers never open a connection to the camera. The recorder already receives the stream and
flushes a fragment (~200 ms) to the segment file it is writing; a `LiveChannel` follows that
file as it grows and sends each new fragment to every subscriber. A channel runs only while it
has subscribers, and there is at most one per stream whatever the number of viewers.

A new subscriber first gets the init (ftyp+moov, with its MSE codec string) and the fragments
since the last keyframe, so its player can start at once; then every new fragment. When the
recorder moves to its next segment file, the channel follows and sends the new file's init
(the player appends it; MSE "sequence" mode keeps time continuous). A subscriber that cannot
keep up (queue full) is resynchronised at the next keyframe instead of slowing the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from guetteur.adapters.media.fmp4 import iter_fragments, parse_init

log = logging.getLogger(__name__)
POLL_S = 0.04
QUEUE_MAX = 200


@dataclass(frozen=True)
class LiveMessage:
    kind: str  # "init" | "fragment" | "status"
    data: bytes = b""
    codec: str = ""
    keyframe: bool = False
    state: str = ""


@dataclass(eq=False)
class Subscriber:
    queue: asyncio.Queue[LiveMessage] = field(
        default_factory=lambda: asyncio.Queue(maxsize=QUEUE_MAX))
    waiting_key: bool = False


class LiveChannel:
    def __init__(self, name: str, current_path: Callable[[], Path | None]) -> None:
        self.name = name
        self._current_path = current_path
        self._subs: set[Subscriber] = set()
        self._init: LiveMessage | None = None
        self._gop: list[LiveMessage] = []
        self._task: asyncio.Task[None] | None = None

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def subscribe(self) -> Subscriber:
        sub = Subscriber()
        if self._init is not None:
            for msg in [self._init, *self._gop]:
                sub.queue.put_nowait(msg)
        self._subs.add(sub)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._follow(), name=f"live:{self.name}")
        return sub

    async def unsubscribe(self, sub: Subscriber) -> None:
        self._subs.discard(sub)
        if not self._subs and self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            self._init = None
            self._gop = []

    def _publish(self, msg: LiveMessage) -> None:
        if msg.kind == "init":
            self._init = msg
            self._gop = []
        elif msg.kind == "fragment":
            if msg.keyframe:
                self._gop = []
            self._gop.append(msg)
        for sub in self._subs:
            if sub.waiting_key:
                if not (msg.kind == "fragment" and msg.keyframe):
                    continue
                sub.waiting_key = False
                if self._init is not None:
                    sub.queue.put_nowait(self._init)
            try:
                sub.queue.put_nowait(msg)
            except asyncio.QueueFull:
                while not sub.queue.empty():
                    sub.queue.get_nowait()
                sub.waiting_key = True
                log.info("live %s: a viewer fell behind; resynchronising", self.name)

    async def _follow(self) -> None:
        tail: _Tail | None = None
        reported_down = False
        try:
            while True:
                current = self._current_path()
                if tail is not None and current != tail.path:
                    # the recorder moved on: what was flushed before the switch goes out first
                    await asyncio.to_thread(tail.read_new)
                    self._emit_fragments(tail)
                    tail.close()
                    tail = None
                if current is None:
                    if not reported_down:
                        self._publish(LiveMessage("status", state="reconnecting"))
                        reported_down = True
                    await asyncio.sleep(0.25)
                    continue
                reported_down = False
                if tail is None:
                    tail = _Tail(current)
                if await asyncio.to_thread(tail.read_new):
                    if not tail.started:
                        init = parse_init(bytes(tail.buf))
                        if init is None:
                            await asyncio.sleep(POLL_S)
                            continue
                        self._publish(LiveMessage("init", bytes(tail.buf[:init.size]),
                                                  codec=init.codec))
                        del tail.buf[:init.size]
                        tail.started = True
                        self._skip_to_last_keyframe(tail)
                    self._emit_fragments(tail)
                await asyncio.sleep(POLL_S)
        finally:
            if tail is not None:
                tail.close()

    def _skip_to_last_keyframe(self, tail: _Tail) -> None:
        """On joining a file mid-way, start from its last keyframe, not from its start."""
        last_key = 0
        for frag in iter_fragments(bytes(tail.buf), 0):
            if frag.keyframe:
                last_key = frag.start
        del tail.buf[:last_key]

    def _emit_fragments(self, tail: _Tail) -> None:
        data = bytes(tail.buf)
        consumed = 0
        for frag in iter_fragments(data, 0):
            self._publish(LiveMessage("fragment", data[frag.start:frag.end],
                                      keyframe=frag.keyframe))
            consumed = frag.end
        del tail.buf[:consumed]


class _Tail:
    """Reads what is appended to a file being written; keeps only unconsumed bytes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.buf = bytearray()
        self.started = False
        self._fh: BinaryIO | None = None

    def read_new(self) -> bool:
        if self._fh is None:
            try:
                self._fh = self.path.open("rb")
            except FileNotFoundError:
                return False
        chunk = self._fh.read()
        if chunk:
            self.buf += chunk
        return bool(chunk)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class LiveHub:
    """One channel per (camera, stream), created on first use."""

    def __init__(self, current_path: Callable[[int, str], Path | None]) -> None:
        self._current_path = current_path
        self._channels: dict[tuple[int, str], LiveChannel] = {}

    def channel(self, camera_id: int, stream: str) -> LiveChannel:
        key = (camera_id, stream)
        if key not in self._channels:
            self._channels[key] = LiveChannel(
                f"{camera_id}:{stream}", lambda: self._current_path(camera_id, stream))
        return self._channels[key]

    def viewers(self) -> dict[tuple[int, str], int]:
        return {k: c.subscribers for k, c in self._channels.items() if c.subscribers}

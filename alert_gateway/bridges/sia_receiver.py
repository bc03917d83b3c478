"""The SIA DC-09 receiver: panels report over TCP or UDP; each frame becomes one contract message.

An alarm is ACKed only when the gateway's `received` for it arrives, which it sends after commit;
otherwise the panel gets NAK and repeats the frame (same sequence number, so the same message id:
the gateway stores it once). Bad frames are kept as rejected messages and NAKed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

from devices.contract import (
    ActivityMessage,
    AlarmMessage,
    Channel,
    HeartbeatMessage,
)

from ..clock import Clock
from ..db.engine import SessionFactory
from ..db.messages import RejectReason
from .sia_accounts import Accounts
from .sia_codes import Mapping, Route, mapping_for, wire_type
from .sia_forward import ContractForwarder
from .sia_frames import Answer, BadFrame, Frame, answer, read_frame
from .sia_rejects import SiaMetrics, keep_rejected
from .sia_udp import DatagramReceiver

log = logging.getLogger(__name__)

MAX_FRAME_BYTES = 1024  # DC-09 frames are a few hundred bytes; a longer "line" is garbage
IDLE_SECONDS = 300.0  # a silent panel connection is closed (panels reconnect per event anyway)


def message_id(frame: Frame, *, now: datetime) -> str:
    """Stable across a panel's repeats (same sequence, code and zone within the hour).

    The hour keeps a sequence number reused after 9999 or a panel restart from being taken for a
    repeat: a new alarm must never be dropped as a duplicate. A repeat that crosses the hour only
    joins the resident's open alert as a further alarm.
    """
    return f"{frame.sequence}.{frame.code}.{(frame.zone or '0')[:16]}.{now:%Y%m%d%H}"


def alarm_message(frame: Frame, mapping: Mapping, *, now: datetime) -> AlarmMessage:
    """The contract alarm for a frame; the SIA details ride along in `data`."""
    return AlarmMessage(
        id=message_id(frame, now=now), type=wire_type(mapping, frame.code),
        ts=frame.panel_time or now, qualifier=mapping.qualifier,
        data={"sia_code": frame.code, "sia_zone": frame.zone, "sia_account": frame.account,
              "sia_sequence": frame.sequence, "sia_cid_event": frame.cid_event,
              "sia_text": (frame.event.message or "")[:200] or None})


class SiaReceiver:
    """Listens for panels; answers every frame ACK, NAK or DUH (see the module docstring)."""

    def __init__(self, *, host: str, port: int, accounts: Accounts, forwarder: ContractForwarder,
                 sessions: SessionFactory, clock: Clock, metrics: SiaMetrics,
                 ack_timeout: float) -> None:
        self._host, self._requested_port = host, port
        self._accounts = accounts
        self._sia_accounts = accounts.for_pysiaalarm()
        self._forwarder = forwarder
        self._sessions = sessions
        self._clock = clock
        self._metrics = metrics
        self._ack_timeout = ack_timeout
        self._panels: set[asyncio.Task[None]] = set()  # one task per panel connection
        self.listening = asyncio.Event()
        self.port: int | None = None  # the bound port (the requested one, or the OS's for 0)

    async def run(self, stop: asyncio.Event) -> None:
        """Take panel connections (TCP) and datagrams (UDP, same port) until `stop`."""
        server = await asyncio.start_server(self._serve_panel, self._host, self._requested_port,
                                            limit=MAX_FRAME_BYTES)
        self.port = server.sockets[0].getsockname()[1]
        udp = DatagramReceiver(lambda raw, peer: self.handle(raw, peer=peer))
        try:
            await asyncio.get_running_loop().create_datagram_endpoint(
                lambda: udp, local_addr=(self._host, self.port))
            self.listening.set()
            log.info("sia receiver listening", extra={"host": self._host, "port": self.port})
            await stop.wait()
        finally:
            self.listening.clear()
            server.close()
            await udp.close()
            # A frame still waiting for the gateway gets no answer: the panel repeats it later.
            for panel in list(self._panels):
                panel.cancel()
            await asyncio.gather(*self._panels, return_exceptions=True)
            await server.wait_closed()

    async def _serve_panel(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, port, *_ = writer.get_extra_info("peername") or ("?", 0)
        peer = f"{host}:{port}"
        task = asyncio.current_task()
        assert task is not None
        self._panels.add(task)
        try:
            while (raw := await self._next_frame(reader, peer)) is not None:
                if raw.strip():  # a stray LF between frames is not a frame
                    writer.write(await self.handle(raw, peer=peer))
                    await writer.drain()
        except ConnectionError as exc:
            log.info("sia panel connection lost: %s", exc, extra={"peer": peer})
        except asyncio.CancelledError:
            # The receiver stops: hang up unanswered. Not re-raised, because asyncio's stream
            # server logs a cancelled connection task as an error ("Exception in callback").
            log.info("sia receiver stopping, panel hung up", extra={"peer": peer})
        finally:
            self._panels.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _next_frame(self, reader: asyncio.StreamReader, peer: str) -> bytes | None:
        """The next frame up to its CR; None when the panel is done (a cut-off rest is kept)."""
        try:
            async with asyncio.timeout(IDLE_SECONDS):
                return await reader.readuntil(b"\r")
        except asyncio.IncompleteReadError as exc:
            if exc.partial.strip():
                await self._reject(peer, RejectReason.SIA_FORMAT, "frame cut off (no CR)",
                                   exc.partial, None)
        except asyncio.LimitOverrunError:
            await self._reject(peer, RejectReason.SIA_FORMAT,
                               f"no CR within {MAX_FRAME_BYTES} bytes", await reader.read(
                                   MAX_FRAME_BYTES), None)
        except TimeoutError:
            pass
        return None

    async def handle(self, raw: bytes, *, peer: str) -> bytes:
        """Answer one frame (a bug answers NAK: the panel repeats rather than loses the event)."""
        try:
            return await self._handle(raw, peer=peer)
        except Exception:
            log.exception("sia frame handling failed, panel NAKed", extra={"peer": peer})
            return self._answer("error", Answer.NAK, None)

    async def _handle(self, raw: bytes, *, peer: str) -> bytes:
        now = self._clock.now()
        frame = read_frame(raw, self._sia_accounts, now=now)
        if isinstance(frame, BadFrame):
            return await self._bad(frame, raw, peer=peer, now=now)
        device_id = self._accounts.device_for(frame.account)
        route, kind = await self._take(frame, raw, device_id, peer=peer, now=now)
        if frame.clock_off:
            await self._reject(peer, RejectReason.SIA_TIMESTAMP,
                               f"timestamp {frame.panel_time} outside the replay window around "
                               f"{now} (event taken; NAK tells the panel our time)", raw, device_id)
            kind = Answer.NAK
        return self._answer(route, kind, frame)

    async def _bad(self, frame: BadFrame, raw: bytes, *, peer: str, now: datetime) -> bytes:
        """Keep it, NAK it; one we cannot decrypt may be an alarm, so it also opens a P1."""
        device_id = self._accounts.device_for(frame.account) if frame.account else None
        await self._reject(peer, frame.reason, frame.detail, raw, device_id)
        if device_id is not None and frame.may_hide_an_alarm:
            alarm = AlarmMessage(id=f"{frame.sequence or '0000'}.sealed.{now:%Y%m%d%H}",
                                 type="sia_unreadable", ts=now,
                                 data={"sia_account": frame.account, "sia_reason": frame.detail})
            await self._forwarder.alarm_committed(device_id, alarm.id,
                                                  alarm.model_dump_json().encode(),
                                                  within=self._ack_timeout)
        return self._answer("rejected", Answer.NAK, None)

    async def _take(self, frame: Frame, raw: bytes, device_id: str, *, peer: str,
                    now: datetime) -> tuple[str, Answer]:
        """Forward the event by its route: (route, answer) for the metric and the panel."""
        if frame.supervision:  # a link test: the panel is alive, nothing to store
            beat = HeartbeatMessage(ts=now).model_dump_json().encode()
            ok = await self._forwarder.publish(device_id, Channel.HEARTBEAT, beat)
            return "supervision", Answer.ACK if ok else Answer.NAK
        mapping = mapping_for(frame.code, cid_event=frame.cid_event)
        if mapping.route is Route.IGNORED:
            await self._reject(peer, RejectReason.SIA_IGNORED,
                               f"code {frame.code} is panel bookkeeping", raw, device_id)
            return "ignored", Answer.DUH
        if mapping.route is Route.ACTIVITY:
            assert mapping.activity is not None
            seen = ActivityMessage(ts=frame.panel_time or now, kind=mapping.activity)
            ok = await self._forwarder.publish(device_id, Channel.ACTIVITY,
                                               seen.model_dump_json().encode())
            return "activity", Answer.ACK if ok else Answer.NAK
        return "alarm", await self._alarm(frame, mapping, device_id, now=now)

    async def _alarm(self, frame: Frame, mapping: Mapping, device_id: str, *, now: datetime
                     ) -> Answer:
        alarm = alarm_message(frame, mapping, now=now)
        committed = await self._forwarder.alarm_committed(
            device_id, alarm.id, alarm.model_dump_json().encode(), within=self._ack_timeout)
        extra = {"device_id": device_id, "message_id": alarm.id, "type": alarm.type}
        if committed:
            log.info("sia alarm committed, panel ACKed", extra=extra)
            return Answer.ACK
        log.warning("sia alarm not confirmed by the gateway in time, panel NAKed (it repeats)",
                    extra=extra)
        return Answer.NAK

    def _answer(self, route: str, kind: Answer, frame: Frame | None) -> bytes:
        self._metrics.frames.labels(route=route, answer=kind.value).inc()
        return answer(kind, frame, now=self._clock.now())

    async def _reject(self, peer: str, reason: RejectReason, detail: str, raw: bytes,
                      device_id: str | None) -> None:
        await keep_rejected(self._sessions, self._metrics, now=self._clock.now(), peer=peer,
                            reason=reason, detail=detail, raw=raw, device_id=device_id)

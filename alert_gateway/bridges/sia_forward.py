"""Publish contract messages for the SIA receiver and wait for the gateway's `received`.

The gateway publishes `received` on a device's feedback topic only after the alarm is committed
(ingest/pipeline.py), so awaiting it here is what lets the receiver ACK a panel after commit.
A generic "contract outbox" may later be shared with the Zigbee2MQTT bridge.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections import Counter, defaultdict
from collections.abc import Iterator

import aiomqtt
from pydantic import ValidationError

from devices.contract import Channel, FeedbackMessage, FeedbackState, Topics

from ..settings import Settings

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT_SECONDS = 5.0


class ContractForwarder:
    """One MQTT connection: publishes as the panels' devices, listens to their feedback."""

    def __init__(self, settings: Settings, *, identifier: str) -> None:
        self._settings = settings
        self._identifier = identifier
        self.topics = Topics(settings.mqtt_topic_root)
        self._client: aiomqtt.Client | None = None
        self._waiting: dict[tuple[str, str], list[asyncio.Future[None]]] = defaultdict(list)
        self._devices_awaited: Counter[str] = Counter()
        self.connected = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Stay connected and subscribed to feedback until `stop`; reconnect with backoff."""
        backoff = 0.2
        while not stop.is_set():
            try:
                async with self._make_client() as client:
                    await client.subscribe(self.topics.for_device("+", Channel.FEEDBACK), qos=1)
                    self._client = client
                    self.connected.set()
                    log.info("sia receiver: mqtt connected")
                    backoff = 0.2
                    await self._read_until(client, stop)
            except aiomqtt.MqttError as exc:
                log.warning("sia receiver: mqtt connection lost: %s", exc)
            finally:
                self._client = None
                self.connected.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff)
            backoff = min(backoff * 2, self._settings.mqtt_reconnect_max_seconds)

    def _make_client(self) -> aiomqtt.Client:
        s = self._settings
        return aiomqtt.Client(
            s.mqtt_host, s.mqtt_port, identifier=self._identifier, username=s.mqtt_username,
            password=s.mqtt_password.get_secret_value() if s.mqtt_password else None,
            tls_context=ssl.create_default_context() if s.mqtt_tls else None,
            clean_session=True,  # feedback matters only while an alarm waits for it
            timeout=PUBLISH_TIMEOUT_SECONDS, keepalive=30)

    async def _read_until(self, client: aiomqtt.Client, stop: asyncio.Event) -> None:
        reader = asyncio.create_task(self._read(client))
        stopper = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    async def _read(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            parsed = self.topics.parse(message.topic.value)
            # every device's feedback passes here (a storm's thousands): read only the awaited
            if (parsed is None or parsed.channel is not Channel.FEEDBACK
                    or parsed.device_id not in self._devices_awaited):
                continue
            try:
                feedback = FeedbackMessage.model_validate_json(message.payload)  # type: ignore[arg-type]
            except ValidationError:
                continue  # not ours to judge: the gateway writes feedback
            if feedback.state is FeedbackState.RECEIVED:
                for waiter in self._waiting.pop((parsed.device_id, feedback.ref), []):
                    if not waiter.done():
                        waiter.set_result(None)

    async def publish(self, device_id: str, channel: Channel, payload: bytes) -> bool:
        """Publish at QoS 1 and wait for the broker's PUBACK; False when not done in time."""
        client = self._client
        if client is None:
            log.warning("sia receiver: not connected to the broker", extra={"device_id": device_id})
            return False
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT_SECONDS):
                await client.publish(self.topics.for_device(device_id, channel), payload, qos=1)
            return True
        except (aiomqtt.MqttError, TimeoutError) as exc:
            log.warning("sia receiver: publish failed: %s", exc, extra={"device_id": device_id})
            return False

    async def alarm_committed(self, device_id: str, message_id: str, payload: bytes,
                              *, within: float) -> bool:
        """Publish an alarm; True once the gateway says `received` for it within `within` s."""
        with self._awaiting(device_id, message_id) as received:  # listening before publishing
            if not await self.publish(device_id, Channel.ALARM, payload):
                return False
            try:
                await asyncio.wait_for(asyncio.shield(received), within)
                return True
            except TimeoutError:
                return False

    @contextlib.contextmanager
    def _awaiting(self, device_id: str, message_id: str) -> Iterator[asyncio.Future[None]]:
        key = (device_id, message_id)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[key].append(waiter)
        self._devices_awaited[device_id] += 1
        try:
            yield waiter
        finally:
            waiter.cancel()
            self._devices_awaited[device_id] -= 1
            if not self._devices_awaited[device_id]:
                del self._devices_awaited[device_id]
            waiters = self._waiting.get(key)
            if waiters is not None and waiter in waiters:
                waiters.remove(waiter)
                if not waiters:
                    del self._waiting[key]

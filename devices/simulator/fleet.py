"""The simulator's MQTT side: a connection per device, or a few shared ones for large runs."""

from __future__ import annotations

import asyncio

import aiomqtt

from devices.contract import Channel, DeviceState, Topics

from .config import SimulatorConfig, SimulatorError
from .links import Broker, Connection, MessageHandler, publish_many


class Fleet:
    """Connections for all devices of a run; publish by device id."""

    def __init__(
        self,
        config: SimulatorConfig,
        device_ids: list[str],
        *,
        run_id: str,
        on_feedback: MessageHandler,
    ) -> None:
        self.cfg = config
        self.topics = Topics(config.topic_root)
        self.device_ids = device_ids
        self.run_id = run_id
        self.on_feedback = on_feedback
        self.multiplexed = config.use_multiplexed(len(device_ids))
        self.links: dict[str, Connection] = {}
        self._tasks: list[asyncio.Task[None]] = []

    async def connect(self) -> None:
        """Connect every device (or the shared connections) and wait until all are up."""
        broker = Broker.from_url(self.cfg.mqtt_url)
        if self.multiplexed:
            shared = [self._shared(broker, i) for i in range(max(1, self.cfg.connections))]
            await self._start(shared)
            for index, device_id in enumerate(self.device_ids):
                self.links[device_id] = shared[index % len(shared)]
            await self._publish_online(shared)
            return
        size = max(1, self.cfg.connect_batch)
        for start in range(0, len(self.device_ids), size):
            # in batches, so a few thousand devices do not hit the broker in one instant
            await self._start([self._own(broker, i) for i in self.device_ids[start : start + size]])

    async def close(self) -> None:
        """Disconnect cleanly: a cancelled Connection.run sends DISCONNECT, so no last will."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def publish(
        self, device_id: str, channel: Channel, body: bytes, *, qos: int, retain: bool = False
    ) -> None:
        """Publish on a device's topic over its connection; MqttError when it is down."""
        topic = self.topics.for_device(device_id, channel)
        await self.links[device_id].publish(topic, body, qos=qos, retain=retain)

    def kill(self, device_id: str) -> None:
        """Drop a device's own connection so the broker sends its last will (no-op when shared)."""
        if not self.multiplexed:
            self.links[device_id].kill()

    async def _start(self, links: list[Connection]) -> None:
        tasks = [asyncio.create_task(link.run()) for link in links]
        self._tasks += tasks
        try:
            async with asyncio.timeout(self.cfg.connect_timeout):
                await asyncio.gather(*(link.connected.wait() for link in links))
        except TimeoutError:
            await self.close()
            raise SimulatorError(
                f"could not connect to {self.cfg.mqtt_url} within {self.cfg.connect_timeout} s"
            ) from None

    def _own(self, broker: Broker, device_id: str) -> Connection:
        """A device's own client: its id as client id and username, a retained `offline` will."""
        status = self.topics.for_device(device_id, Channel.STATUS)

        async def announce(client: aiomqtt.Client) -> None:
            # retained, so the gateway learns the state even if it starts later
            await client.publish(status, DeviceState.ONLINE.value.encode(), qos=1, retain=True)

        link = Connection(
            broker,
            identifier=device_id,
            username=device_id,
            password=self.cfg.credentials.get(device_id),
            will=aiomqtt.Will(status, DeviceState.OFFLINE.value.encode(), qos=1, retain=True),
            subscriptions=[self.topics.for_device(device_id, Channel.FEEDBACK)],
            on_message=self.on_feedback,
            on_connect=announce,
        )
        self.links[device_id] = link
        return link

    def _shared(self, broker: Broker, index: int) -> Connection:
        """A connection that publishes for many devices; the first one reads all their feedback."""
        wildcard = f"{self.cfg.topic_root}/+/{Channel.FEEDBACK.value}"
        return Connection(
            broker,
            identifier=f"devsim-{self.run_id}-{index}",
            username=self.cfg.mqtt_username,
            password=self.cfg.mqtt_password,
            subscriptions=[wildcard] if index == 0 else [],
            on_message=self.on_feedback,
            max_inflight=1000,
        )

    async def _publish_online(self, shared: list[Connection]) -> None:
        online = DeviceState.ONLINE.value.encode()
        for index, link in enumerate(shared):
            ids = self.device_ids[index :: len(shared)]
            statuses = ((self.topics.for_device(i, Channel.STATUS), online) for i in ids)
            await publish_many(link, statuses, qos=1, retain=True)

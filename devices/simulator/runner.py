"""run_simulator: connect the devices, play the traffic, repeat alarms until `received`, report."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from collections.abc import Coroutine
from typing import Any
from zoneinfo import ZoneInfo

import aiomqtt
from pydantic import ValidationError

from devices.contract import Channel, FeedbackMessage, FeedbackState, Topics

from .behaviour import activity_loop, heartbeat_loop
from .config import SimulatorConfig
from .device import SimDevice, encode, now_in
from .fleet import Fleet
from .randomize import play_random
from .report import AlarmRecord, Feedback, SimulationReport
from .scenario import Action, Step, play

log = logging.getLogger(__name__)


async def run_simulator(
    config: SimulatorConfig, *, stop: asyncio.Event | None = None
) -> SimulationReport:
    """Simulate the configured homes until the traffic ends, `duration` passes or `stop` is set."""
    return await Simulator(config).run(stop or asyncio.Event())


class Simulator:
    """One run: devices, their connections, and the tasks that make them talk."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.cfg = config
        self.topics = Topics(config.topic_root)
        self.tz = ZoneInfo(config.timezone)
        self.rng = random.Random(config.seed)
        run_id = secrets.token_hex(3)
        self.scenario = config.load_scenario()
        self.homes = config.resolve_homes(self.scenario)
        self.devices = {
            d.id: SimDevice(d, run_id, battery=self.rng.uniform(60, 100))
            for h in self.homes
            for d in h.devices
        }
        self.fleet = Fleet(config, list(self.devices), run_id=run_id, on_feedback=self._on_feedback)
        self.report = SimulationReport(devices=len(self.devices))
        self._pending: dict[tuple[str, str], tuple[AlarmRecord, asyncio.Event]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self, stop: asyncio.Event) -> SimulationReport:
        """Connect, play, wait for the end, disconnect."""
        try:
            await self.fleet.connect()
            devices = list(self.devices.values())
            spread = self.fleet.multiplexed
            speed = self.cfg.speed
            self._spawn(
                heartbeat_loop(devices, self._heartbeat, speed=speed, spread=spread, rng=self.rng)
            )
            self._spawn(
                activity_loop(
                    devices,
                    lambda d: self._publish_activity(d, None),
                    per_hour=self.cfg.activity_per_hour,
                    speed=speed,
                    rng=self.rng,
                )
            )
            await self._wait_for_end(stop, self._spawn(self._traffic()))
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self.fleet.close()
        return self.report

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _wait_for_end(self, stop: asyncio.Event, traffic: asyncio.Task[None]) -> None:
        """Until stop, duration, or (a scenario without random traffic) its end plus settle."""
        stopped = self._spawn(_wait_event(stop))
        ends_by_itself = self.scenario is not None and self.cfg.random_traffic is None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.cfg.duration):
                # FIRST_EXCEPTION: a broken step ends the run at once; else wait for both
                when = asyncio.FIRST_COMPLETED if ends_by_itself else asyncio.FIRST_EXCEPTION
                await asyncio.wait({stopped, traffic}, return_when=when)
                if traffic.done() and not traffic.cancelled() and traffic.exception():
                    await traffic  # re-raise the scenario's error
                if stop.is_set():
                    return
                waits = [event.wait() for _, event in self._pending.values()]
                async with asyncio.timeout(self.cfg.settle):
                    await asyncio.gather(*waits)

    def _on_feedback(self, topic: str, payload: bytes) -> None:
        """Record feedback; `received` stops the alarm's repeats."""
        parsed = self.topics.parse(topic)
        if parsed is None or parsed.channel is not Channel.FEEDBACK:
            return
        if parsed.device_id not in self.devices:
            return  # another simulation's device under a shared wildcard
        try:
            message = FeedbackMessage.model_validate_json(payload)
        except ValidationError:
            self.report.invalid_feedback += 1
            return
        at = time.monotonic()
        self.report.feedback.append(
            Feedback(parsed.device_id, message.ref, message.state.value, at, message.alert_id)
        )
        pending = self._pending.get((parsed.device_id, message.ref))
        if message.state is FeedbackState.RECEIVED and pending is not None:
            record, event = pending
            if record.received_at is None:
                record.received_at = at
            event.set()

    async def _publish(
        self, device: SimDevice, channel: Channel, body: bytes, *, qos: int, retain: bool = False
    ) -> bool:
        """Publish for a device; False (counted) when the broker is unreachable."""
        if device.silenced:
            return False
        try:
            await self.fleet.publish(device.id, channel, body, qos=qos, retain=retain)
        except (aiomqtt.MqttError, TimeoutError):
            self.report.publish_errors += 1
            return False
        return True

    async def _traffic(self) -> None:
        """The scenario's steps, then random alarms if asked for."""
        speed, sleep = self.cfg.speed, self.cfg.sleep
        if self.scenario is not None:
            steps, end = self.scenario.steps, self.scenario.duration
            await play(steps, self.perform, speed=speed, sleep=sleep, end=end)
        if self.cfg.random_traffic is not None:
            traffic = self.cfg.random_traffic
            await play_random(
                self.homes, traffic, self.perform, speed=speed, sleep=sleep, rng=self.rng
            )

    async def perform(self, step: Step) -> None:
        """Make one device do one step."""
        device = self.devices[step.device]
        if device.silenced:
            return
        if step.action is Action.ALARM:
            await self._alarm(device, step)
        elif step.action is Action.CANCEL:
            target = device.last_alarm_id if step.value == "last" else str(step.value)
            if target is None:
                log.warning("simulator: %s has no alarm to cancel", device.id)
                return
            cancel = device.cancel(target, now_in(self.tz), message_id=step.id)
            if await self._publish(device, Channel.CANCEL, encode(cancel), qos=1):
                self.report.cancels += 1
        elif step.action is Action.SILENCE:
            self._silence(device)
        elif step.action is Action.BATTERY:
            device.battery = float(step.value or 0)
            await self._heartbeat(device)
        elif step.action is Action.ACTIVITY:
            await self._publish_activity(device, str(step.value))
        elif step.action is Action.QUIET:
            device.quiet = True
        elif step.action is Action.HEARTBEAT:
            await self._heartbeat(device)

    async def _alarm(self, device: SimDevice, step: Step) -> None:
        """Publish an alarm now, then repeat it in the background until `received`."""
        message = device.alarm(
            str(step.value),
            now_in(self.tz),
            message_id=step.id,
            qualifier=step.qualifier,
            data=step.data,
        )
        record = AlarmRecord(device.id, message.id, message.type, time.monotonic(), publishes=0)
        event = asyncio.Event()
        self.report.alarms.append(record)
        self._pending[(device.id, message.id)] = (record, event)
        body = encode(message)
        # awaited here (not in the repeat task) so a cancel step right after cannot overtake it
        if await self._publish(device, Channel.ALARM, body, qos=1):
            record.publishes += 1
        self._spawn(self._repeat(device, body, record, event))

    async def _repeat(
        self, device: SimDevice, body: bytes, record: AlarmRecord, event: asyncio.Event
    ) -> None:
        """Re-publish the same alarm (back off 5, 10, 20 … 60 s) until `received`; never give up."""
        delay = self.cfg.retry_initial
        while not device.silenced:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await event.wait()
                    return
            if await self._publish(device, Channel.ALARM, body, qos=1):
                record.publishes += 1
            delay = min(delay * 2, self.cfg.retry_max)

    def _silence(self, device: SimDevice) -> None:
        """The device dies: nothing more from it; its connection drops so the last will fires."""
        device.silenced = True
        self.fleet.kill(device.id)

    async def _heartbeat(self, device: SimDevice) -> None:
        beat = device.heartbeat(
            now_in(self.tz), drain=self.cfg.battery_drain, firmware=self.cfg.firmware
        )
        if await self._publish(device, Channel.HEARTBEAT, encode(beat), qos=self.cfg.heartbeat_qos):
            self.report.heartbeats += 1
        if device.battery_percent == 0:
            self._silence(device)  # a flat battery ends the device

    async def _publish_activity(self, device: SimDevice, kind: str | None) -> None:
        event = device.activity(now_in(self.tz), kind)
        if await self._publish(device, Channel.ACTIVITY, encode(event), qos=1):
            self.report.activities += 1


async def _wait_event(event: asyncio.Event) -> None:
    await event.wait()

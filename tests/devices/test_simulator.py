"""The simulator against real Mosquitto: alarms, repeats until `received`, last will, heartbeats."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiomqtt
import pytest
import pytest_asyncio

from devices.contract import (
    AlarmMessage,
    CancelMessage,
    Channel,
    FeedbackMessage,
    FeedbackState,
    HeartbeatMessage,
    Topics,
)
from devices.simulator import (
    DeviceSpec,
    Home,
    Scenario,
    SimulationReport,
    SimulatorConfig,
    SimulatorError,
    load_scenario,
    parse_scenario,
    run_simulator,
)

BOUND = 10.0  # seconds: an upper bound on waits, never a sleep


async def instant(_: float) -> None:
    """A scenario clock that does not wait."""
    await asyncio.sleep(0)


def unique(device_id: str) -> str:
    """A device id (= MQTT client id) no concurrent test run shares, so sessions never collide."""
    return f"{device_id}-{uuid.uuid4().hex[:8]}"


def renamed(scenario: Scenario) -> tuple[Scenario, dict[str, str]]:
    """A shipped scenario with unique device ids."""
    names = {s.device: unique(s.device) for s in scenario.steps}
    steps = tuple(dataclasses.replace(s, device=names[s.device]) for s in scenario.steps)
    return dataclasses.replace(scenario, steps=steps, devices=(), duration=None), names


@pytest_asyncio.fixture
async def watcher(topic_root: str) -> AsyncIterator[aiomqtt.Client]:
    """A plain client subscribed to everything under the test's topic root."""
    async with aiomqtt.Client("127.0.0.1", 1883, identifier=unique("watcher")) as client:
        await client.subscribe(f"{topic_root}/#", qos=1)
        yield client


async def next_message(client: aiomqtt.Client, topic: str) -> aiomqtt.Message:
    """The next message on a topic (others are skipped), bounded by BOUND."""
    async with asyncio.timeout(BOUND):
        async for message in client.messages:
            if message.topic.matches(topic):
                return message
    raise AssertionError("message stream ended")


def alarm_of(message: aiomqtt.Message) -> AlarmMessage:
    """The contract model of an alarm message (validation is part of every check)."""
    assert isinstance(message.payload, bytes)
    return AlarmMessage.model_validate_json(message.payload)


def config(topic_root: str, **kwargs: object) -> SimulatorConfig:
    """Test defaults: real broker, own root, instant scenario clock, slow repeats."""
    defaults: dict[str, object] = {
        "topic_root": topic_root,
        "sleep": instant,
        "retry_initial": 60.0,
        "settle": 0.0,
        "activity_per_hour": 0.0,
    }
    return SimulatorConfig(**{**defaults, **kwargs})  # type: ignore[arg-type]


async def test_fall_then_cancel_publishes_contract_messages(
    topic_root: str, watcher: aiomqtt.Client
) -> None:
    scenario, names = renamed(load_scenario("fall-then-cancel"))
    device = names["fall-0001"]
    topics = Topics(topic_root)

    report = await asyncio.wait_for(run_simulator(config(topic_root, scenario=scenario)), BOUND)

    status = await next_message(watcher, topics.for_device(device, Channel.STATUS))
    assert status.payload == b"online"
    alarm_msg = await next_message(watcher, topics.for_device(device, Channel.ALARM))
    alarm = alarm_of(alarm_msg)
    assert alarm.type == "fall" and alarm.ts.utcoffset() is not None
    assert alarm_msg.qos == 1
    cancel_msg = await next_message(watcher, topics.for_device(device, Channel.CANCEL))
    assert isinstance(cancel_msg.payload, bytes)
    cancel = CancelMessage.model_validate_json(cancel_msg.payload)
    assert cancel.alarm_id == alarm.id and cancel.id != alarm.id
    assert [(a.device_id, a.message_id, a.type) for a in report.alarms] == [
        (device, alarm.id, "fall")
    ]
    assert report.cancels == 1 and report.publish_errors == 0


async def test_alarm_repeats_with_same_id_until_received(
    topic_root: str, watcher: aiomqtt.Client
) -> None:
    device = unique("pendant")
    topics = Topics(topic_root)
    scenario = parse_scenario({"steps": [{"at": 0, "device": device, "alarm": "sos"}]})
    stop = asyncio.Event()
    cfg = config(topic_root, scenario=scenario, retry_initial=0.05, retry_max=0.2, settle=BOUND)
    run = asyncio.create_task(run_simulator(cfg, stop=stop))

    alarm_topic = topics.for_device(device, Channel.ALARM)
    ids = [alarm_of(await next_message(watcher, alarm_topic)).id for _ in range(3)]
    assert len(set(ids)) == 1, "repeats keep the alarm's id"
    feedback = FeedbackMessage(
        ref=ids[0], state=FeedbackState.RECEIVED, ts=datetime.now(UTC), alert_id=7
    )
    await watcher.publish(
        topics.for_device(device, Channel.FEEDBACK), feedback.model_dump_json(), qos=1
    )

    # With the feedback, the scenario is fully acknowledged: the run ends by itself.
    report: SimulationReport = await asyncio.wait_for(run, BOUND)
    record = report.alarms[0]
    assert record.message_id == ids[0] and record.received_at is not None
    assert report.latencies[(device, ids[0])] > 0
    acks = [(f.ref, f.state, f.alert_id) for f in report.acknowledgements]
    assert acks == [(ids[0], "received", 7)]
    seen = 3
    with pytest.raises(TimeoutError):  # no repeat after `received` (only one may be in flight)
        async with asyncio.timeout(0.5):
            async for message in watcher.messages:
                if message.topic.matches(alarm_topic):
                    seen += 1
    assert seen == record.publishes


async def test_silence_makes_the_broker_deliver_the_retained_last_will(
    topic_root: str, watcher: aiomqtt.Client
) -> None:
    silent, other = unique("pendant"), unique("pendant")
    topics = Topics(topic_root)
    steps = [
        {"at": "10s", "device": silent, "silence": True},
        {"at": 0, "device": other, "heartbeat": True},
    ]
    scenario = parse_scenario({"name": "goes-silent", "steps": steps})

    report = await asyncio.wait_for(run_simulator(config(topic_root, scenario=scenario)), BOUND)

    status = topics.for_device(silent, Channel.STATUS)
    assert (await next_message(watcher, status)).payload == b"online"
    assert (await next_message(watcher, status)).payload == b"offline"
    assert report.devices == 2
    # A client that connects later gets the will as the retained state; the device that
    # disconnected cleanly at the end of the run is still `online`.
    async with aiomqtt.Client("127.0.0.1", identifier=unique("late")) as late:
        await late.subscribe(status, qos=1)
        will = await next_message(late, status)
        assert (will.payload, will.retain) == (b"offline", True)
        await late.subscribe(topics.for_device(other, Channel.STATUS), qos=1)
        kept = await next_message(late, topics.for_device(other, Channel.STATUS))
        assert (kept.payload, kept.retain) == (b"online", True)


async def test_heartbeats_carry_a_draining_battery(
    topic_root: str, watcher: aiomqtt.Client
) -> None:
    device = unique("pendant")
    home = Home("home-1", [DeviceSpec(device, "pendant", heartbeat_interval=0.05)])
    stop = asyncio.Event()
    cfg = config(topic_root, homes=[home], battery_drain=1.0)
    run = asyncio.create_task(run_simulator(cfg, stop=stop))

    topic = Topics(topic_root).for_device(device, Channel.HEARTBEAT)
    levels: list[int] = []
    for _ in range(4):
        message = await next_message(watcher, topic)
        assert isinstance(message.payload, bytes)
        beat = HeartbeatMessage.model_validate_json(message.payload)
        assert beat.ts.utcoffset() is not None
        assert beat.battery is not None
        levels.append(beat.battery)
    stop.set()
    report = await asyncio.wait_for(run, BOUND)
    assert all(later < earlier for earlier, later in itertools.pairwise(levels)), levels
    assert report.heartbeats >= 4


async def test_battery_step_sends_low_battery_heartbeat(
    topic_root: str, watcher: aiomqtt.Client
) -> None:
    device = unique("pendant")
    scenario = parse_scenario({"steps": [{"at": "5s", "device": device, "battery": 5}]})

    await asyncio.wait_for(run_simulator(config(topic_root, scenario=scenario)), BOUND)

    topic = Topics(topic_root).for_device(device, Channel.HEARTBEAT)
    batteries = []
    while 5 not in batteries:
        message = await next_message(watcher, topic)
        assert isinstance(message.payload, bytes)
        batteries.append(HeartbeatMessage.model_validate_json(message.payload).battery)


async def test_multiplexed_mode_same_topics_and_feedback(
    topic_root: str, watcher: aiomqtt.Client
) -> None:
    devices = [unique("pendant"), unique("fall")]
    steps = [{"at": 0, "device": d, "alarm": "sos"} for d in devices]
    scenario = parse_scenario({"steps": steps})
    topics = Topics(topic_root)
    cfg = config(topic_root, scenario=scenario, mode="multiplexed", connections=2, settle=BOUND)
    run = asyncio.create_task(run_simulator(cfg))

    for device in devices:
        alarm = alarm_of(await next_message(watcher, topics.for_device(device, Channel.ALARM)))
        feedback = FeedbackMessage(ref=alarm.id, state=FeedbackState.RECEIVED, ts=datetime.now(UTC))
        await watcher.publish(
            topics.for_device(device, Channel.FEEDBACK), feedback.model_dump_json(), qos=1
        )

    report = await asyncio.wait_for(run, BOUND)
    assert sorted(d for d, _ in report.latencies) == sorted(devices)
    assert not report.unacknowledged


async def test_unreachable_broker_is_a_clear_error(topic_root: str) -> None:
    cfg = config(topic_root, generate=1, mqtt_url="mqtt://127.0.0.1:1", connect_timeout=0.5)
    with pytest.raises(SimulatorError, match="could not connect"):
        await run_simulator(cfg)


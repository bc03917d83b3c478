"""Runs the demo: broker, database, fake Twilio, gateway and simulator, stopped in reverse order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator

from aiohttp import web

from devices.simulator import run_simulator

from ..errors import ConfigError
from ..gateway import Gateway
from ..services import Services, build_services
from ..settings import Settings
from ..twilio.fake_server import fake_of, make_fake_twilio_app
from ..web.app import make_app, make_runner
from . import wellbeing
from .accounts import ensure_demo_account, ensure_demo_token
from .announce import AlertPrinter, banner, say
from .broker import DemoBroker, demo_broker
from .data import DemoOptions, demo_key, demo_phones, demo_settings, prepare_database
from .fonts import font_advice, japanese_font_missing
from .line import link_accounts, mount_fake_line, policies_path, write_policies
from .traffic import Traffic, resolve_traffic, simulator_config

log = logging.getLogger(__name__)

HTTP_SHUTDOWN_SECONDS = 3.0  # an open console live stream must not hold Ctrl-C for aiohttp's 60 s
MQTT_READY_SECONDS = 15.0
SIMULATOR_GRACE_SECONDS = 1.0
SIMULATOR_STOP_SECONDS = 10.0
FAKE_STEP_DELAY = 1.0  # seconds between a fake call's stages, so a person can watch them
WELLBEING_RESIDENT = "r-0001"  # the demo's one wellbeing call
FAKE_PRESS_WAIT = 30.0  # seconds a ringing demo call holds for a key pressed on the phones page


async def run_demo(options: DemoOptions, base: Settings, *, stop: asyncio.Event | None = None) -> int:
    """Run everything until SIGINT/SIGTERM (or `stop`); 0 after a clean stop."""
    stop = stop or asyncio.Event()
    traffic = resolve_traffic(options.scenario, options.residents)  # a typo fails before anything starts
    _stop_on_signals(stop)
    options.data_dir.mkdir(parents=True, exist_ok=True)
    async with contextlib.AsyncExitStack() as stack:
        broker = await stack.enter_async_context(
            demo_broker(options.mqtt_url, force_embedded=options.embedded_broker))
        settings = demo_settings(base, options, broker)
        if base.policies_file is None:
            write_policies(policies_path(options.data_dir))
        services = build_services(settings)
        stack.push_async_callback(services.close)  # last: after every server and task using it
        report = await prepare_database(settings, services.sessions, options.residents,
                                        now=services.clock.now())
        say(f"demo residents: {report.summary()}")
        called = await wellbeing.call_now(services.sessions, resident_id=WELLBEING_RESIDENT,
                                          now=services.clock.now())
        if called:
            say(f"お元気コール / wellbeing call: {called} ({WELLBEING_RESIDENT}) is called now; "
                "press 1 (fine) or 9 (help) on the phones page")
        name, password = await ensure_demo_account(services.sessions, options.data_dir,
                                                   now=services.clock.now())
        api_token = await ensure_demo_token(services.sessions, options.data_dir,
                                            now=services.clock.now())
        phones = await demo_phones(services.sessions, settings)
        line_accounts = await link_accounts(services.sessions)
        await stack.enter_async_context(fake_twilio(settings, options.twilio_port, phones,
                                                   line_accounts))
        await stack.enter_async_context(running_gateway(services))
        console_url = f"{settings.public_url}/console/"
        await AlertPrinter(services, console_url).attach()
        await _wait_for_mqtt(services, broker)
        simulator = await stack.enter_async_context(simulating(options, traffic, settings, broker))
        banner(console_url=console_url, phones_url=f"http://127.0.0.1:{options.twilio_port}/",
               name=name, password=password, broker=broker.description,
               topic_root=settings.mqtt_topic_root, api_token=api_token,
               scenario=options.scenario, data_dir=str(options.data_dir),
               font_advice=font_advice() if japanese_font_missing() else None)
        await _until_stopped(stop, simulator)
        say("stopping: simulator, gateway, fake Twilio, broker …")
    say("demo stopped")
    return 0


def _stop_on_signals(stop: asyncio.Event) -> None:
    """First Ctrl-C or SIGTERM stops cleanly; a second Ctrl-C interrupts at once."""
    loop = asyncio.get_running_loop()

    def first(sig: signal.Signals) -> None:
        stop.set()
        loop.remove_signal_handler(sig)  # back to the default: the next one raises KeyboardInterrupt

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread: tests
            loop.add_signal_handler(sig, first, sig)


async def _wait_for_mqtt(services: Services, broker: DemoBroker) -> None:
    """Wait (bounded) for the gateway's broker session, so the first alarm is taken at once."""
    try:
        async with asyncio.timeout(MQTT_READY_SECONDS):
            await services.ingest.connection.connected.wait()
    except TimeoutError:
        say(f"warning: the gateway has not connected to {broker.url} yet; it keeps trying")


async def _until_stopped(stop: asyncio.Event, simulator: asyncio.Task[object]) -> None:
    """Wait for the stop signal; a simulator that fails is reported and the rest keeps running."""
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({stopping, simulator}, return_when=asyncio.FIRST_COMPLETED)
        if simulator.done() and not simulator.cancelled() and simulator.exception() is not None:
            say(f"warning: the simulator stopped: {simulator.exception()}")
        await stop.wait()
    finally:
        stopping.cancel()


async def _serve(app: web.Application, port: int, what: str) -> web.AppRunner:
    """Start an aiohttp app on 127.0.0.1:port; a busy port is a clear ConfigError."""
    runner = make_runner(app, handle_signals=False, shutdown_timeout=HTTP_SHUTDOWN_SECONDS)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(f"cannot listen on 127.0.0.1:{port} for {what} ({exc.strerror}); "
                          "choose another port") from exc
    return runner


@contextlib.asynccontextmanager
async def fake_twilio(settings: Settings, port: int, phones: list[str],
                      line_accounts: dict[str, str]) -> AsyncIterator[web.Application]:
    """The fake Twilio in this process, with the fake LINE under /line/; their callbacks and
    webhooks go to the gateway's public URL."""
    app = make_fake_twilio_app(
        auth_token=settings.twilio_auth_token.get_secret_value(),
        account_sid=settings.twilio_account_sid,
        webhook_base=settings.public_url,
        step_delay=FAKE_STEP_DELAY,
    )
    fake = fake_of(app)
    # Answered calls wait at the keypad for a person on the phones page (else they would end
    # with no key at once); unanswered, the escalation goes on after FAKE_PRESS_WAIT.
    fake.wait_timeout = FAKE_PRESS_WAIT
    for number in phones:
        fake.phone(number).press = "wait"
    mount_fake_line(app, settings, line_accounts)
    runner = await _serve(app, port, "the fake Twilio (--twilio-port)")
    try:
        yield app
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def running_gateway(services: Services) -> AsyncIterator[Gateway]:
    """The gateway and its HTTP app, as `serve` runs them; drained on the way out."""
    gateway = Gateway(services)
    runner = await _serve(make_app(services, gateway), services.settings.http_port,
                          "the gateway (--port)")
    try:
        await gateway.start()
        yield gateway
    finally:
        await gateway.stop()
        await runner.cleanup()


@contextlib.asynccontextmanager
async def simulating(options: DemoOptions, traffic: Traffic, settings: Settings,
                     broker: DemoBroker) -> AsyncIterator[asyncio.Task[object]]:
    """The simulated homes as a task; stopped (devices disconnect cleanly) on the way out."""
    config = simulator_config(traffic, residents=options.residents, broker=broker,
                              topic_root=settings.mqtt_topic_root,
                              client_tag=demo_key(options.data_dir))
    halt = asyncio.Event()
    task: asyncio.Task[object] = asyncio.create_task(run_simulator(config, stop=halt))
    try:
        yield task
    finally:
        halt.set()
        # With random traffic the simulator waits for its traffic task as well as `stop` (it
        # never ends), so it is cancelled after a short grace; cancelling still disconnects
        # every device cleanly (its `finally` closes the fleet).
        done, _ = await asyncio.wait({task}, timeout=SIMULATOR_GRACE_SECONDS)
        if not done:
            task.cancel()
        try:
            async with asyncio.timeout(SIMULATOR_STOP_SECONDS):
                await task
        except asyncio.CancelledError:
            if not task.cancelled():
                raise  # we ourselves are being cancelled
        except Exception as exc:  # its own failure was already reported; stopping must go on
            log.warning("simulator did not stop cleanly: %r", exc)

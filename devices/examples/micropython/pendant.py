"""An ESP32-class SOS pendant on MicroPython and umqtt.robust, talking the alert-gateway contract.

Copy to the board as main.py with umqtt (`mpremote mip install umqtt.simple umqtt.robust`), fill
in CONFIG, and it: joins Wi-Fi, sets its clock by NTP, logs in with its own account (from
`alert-gateway device provision ID`), over TLS if CA_FILE is set; sets a retained QoS 1 last will
`offline` and publishes `online`; sends heartbeats; and on a button press publishes a QoS 1 alarm
and re-publishes it with the same id until the gateway answers `received` for that id.

Read README.md beside this file for umqtt's limits (blocking QoS 1, no session state of its own,
memory, TLS). This file cannot run on CPython; the test suite only checks that it compiles.
"""

import json
import os
import time

import machine
import network
import ntptime
from umqtt.robust import MQTTClient
from umqtt.simple import MQTTClient as SimpleClient

# --- CONFIG: per device -------------------------------------------------------------------
WIFI_SSID = "home-wifi"
WIFI_PASSWORD = "..."
BROKER = "broker.example.jp"  # the host name in the broker's TLS certificate
PORT = 8883  # 1883 only on a trusted local network: the password would travel in clear
CA_FILE = "ca.pem"  # the CA that signed the broker's certificate; None for plain MQTT
DEVICE_ID = "pendant-0042"  # also the MQTT username and client id
DEVICE_PASSWORD = "..."  # printed once by `alert-gateway device provision pendant-0042`
ROOT = "eldercare/v1/devices"
BUTTON_PIN = 0  # the SOS button, pulled up, pressed = 0
HEARTBEAT_S = 15 * 60  # the interval the gateway has for this device (3 missed = offline)
# -------------------------------------------------------------------------------------------

KEEPALIVE_S = 60  # the broker fires our will 1.5 keepalives after the link dies
PING_S = KEEPALIVE_S // 2  # umqtt never pings by itself: we must, or the broker drops us
SOCKET_TIMEOUT_S = 15  # bounds a blocking read (a QoS 1 publish waits for its PUBACK)
RETRY_S = (5, 10, 20, 40, 60)  # the contract's re-publish schedule; then every 60 s, for ever
PENDING_FILE = "pending_alarm.json"  # survives a reset: the alarm is repeated after a reboot


def topic(channel):
    """`{root}/{device id}/{channel}` as bytes (umqtt wants bytes for topics)."""
    return f"{ROOT}/{DEVICE_ID}/{channel}".encode()


def iso_utc():
    """Device time as ISO 8601 in UTC; right only after ntptime.settime()."""
    y, mo, d, h, mi, s = time.gmtime()[:6]
    return f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}Z"


def new_alarm_id():
    """Unique per device across resets: time alone repeats after a clock reset, so add randomness."""
    return f"mp-{time.time():x}-" + "".join(f"{b:02x}" for b in os.urandom(4))


def bound_socket(client):
    """Bound blocking reads (a QoS 1 publish waits for its PUBACK), where the socket allows it.

    check_msg() leaves the socket blocking with no timeout, so set it again before each QoS 1
    publish. Some firmware's TLS sockets have no settimeout (see README.md): a dead link then
    blocks until the TCP stack gives up.
    """
    try:
        client.sock.settimeout(SOCKET_TIMEOUT_S)
    except AttributeError:
        pass


class Pendant(MQTTClient):
    """umqtt.robust with what its README asks a real application to add: a bounded back-off, and
    the session set up again after each automatic reconnect."""

    def delay(self, i):
        time.sleep(min(2**i, 30))  # robust's default is a fixed 2 s, for ever

    def reconnect(self):
        super().reconnect()  # robust retries connect(clean_session=False) until it works
        self.after_connect()

    def after_connect(self):
        """Subscribe before anything else so no `received` slips past, then announce ourselves."""
        bound_socket(self)
        # umqtt.simple's own methods: robust's would start a reconnect inside this reconnect.
        SimpleClient.subscribe(self, topic("feedback"), 1)
        SimpleClient.publish(self, topic("status"), b"online", True, 1)


state = {"pending": None, "attempts": 0, "next_at": 0}


def on_message(msg_topic, msg):
    """Feedback from the gateway. umqtt calls this from inside wait_msg/check_msg and even while a
    QoS 1 publish waits for its PUBACK, so only note it here: publishing from a callback recurses."""
    pending = state["pending"]
    try:
        feedback = json.loads(msg)
    except ValueError:
        return
    if pending and feedback.get("ref") == pending["id"] and feedback.get("state") == "received":
        print("alarm", pending["id"], "received after", state["attempts"], "publish(es)")
        state["pending"] = None
        try:
            os.remove(PENDING_FILE)
        except OSError:
            pass


def raise_alarm(alarm_type):
    """Write the alarm to flash first, so that a reset before `received` still repeats it."""
    alarm = {"id": new_alarm_id(), "type": alarm_type, "ts": iso_utc()}
    with open(PENDING_FILE, "w") as f:
        json.dump(alarm, f)
    state.update(pending=alarm, attempts=0, next_at=0)


def load_pending():
    """An alarm not yet received before the last reset, or None."""
    try:
        with open(PENDING_FILE) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def send_alarm(client):
    """Publish the pending alarm, same id every time; the gateway de-duplicates on (device, id)."""
    # A QoS 1 publish blocks until its PUBACK; a timeout raises OSError, and robust reconnects
    # and publishes again.
    bound_socket(client)
    client.publish(topic("alarm"), json.dumps(state["pending"]).encode(), False, 1)
    state["attempts"] += 1
    step = min(state["attempts"], len(RETRY_S)) - 1
    state["next_at"] = time.time() + RETRY_S[step]
    print("alarm", state["pending"]["id"], "published, attempt", state["attempts"])


def send_heartbeat(client):
    """QoS 0: the next heartbeat supersedes a lost one."""
    client.publish(topic("heartbeat"), json.dumps({"ts": iso_utc(), "firmware": "mp-example-1"}))


def connect_wifi():
    """Join Wi-Fi and set the clock (bounded waits; the caller retries)."""
    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    if not wlan.isconnected():
        wlan.connect(WIFI_SSID, WIFI_PASSWORD)
        for _ in range(30):
            if wlan.isconnected():
                break
            time.sleep(1)
    if not wlan.isconnected():
        raise OSError("wifi")
    ntptime.settime()  # UTC; without it `ts` is 2000-01-01 and the gateway flags the clock


def make_client():
    """The MQTT client with login, last will and (if CA_FILE) verified TLS."""
    ssl_context = None
    if CA_FILE:
        import ssl  # recent firmware; older umqtt took ssl=True, ssl_params={...} (README.md)

        ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        # mbedTLS checks the certificate only with CERT_REQUIRED; the default checks nothing.
        ssl_context.verify_mode = ssl.CERT_REQUIRED
        ssl_context.load_verify_locations(cafile=CA_FILE)
    client = Pendant(
        DEVICE_ID,
        BROKER,
        port=PORT,
        user=DEVICE_ID,
        password=DEVICE_PASSWORD,
        keepalive=KEEPALIVE_S,
        ssl=ssl_context,
    )
    client.set_callback(on_message)
    # If we vanish (battery out, out of range), the broker publishes this for us, retained.
    client.set_last_will(topic("status"), b"offline", retain=True, qos=1)
    return client


def main():
    button = machine.Pin(BUTTON_PIN, machine.Pin.IN, machine.Pin.PULL_UP)
    state["pending"] = load_pending()
    while True:
        try:
            connect_wifi()
            client = make_client()
            # clean_session=False, as robust's reconnect uses: the broker keeps our feedback
            # subscription (and queues `received`) across short drops.
            client.connect(clean_session=False)
            client.after_connect()
            last_ping = last_heartbeat = 0
            was_pressed = False
            while True:
                now = time.time()
                pressed = button.value() == 0
                # A new press raises a new alarm; holding the button does not raise more.
                if pressed and not was_pressed and state["pending"] is None:
                    raise_alarm("sos")
                was_pressed = pressed
                if state["pending"] and now >= state["next_at"]:
                    send_alarm(client)
                if now - last_heartbeat >= HEARTBEAT_S:
                    send_heartbeat(client)
                    last_heartbeat = now
                if now - last_ping >= PING_S:
                    client.ping()
                    last_ping = now
                client.check_msg()  # delivers feedback to on_message; returns at once if none
                time.sleep_ms(50)
        except OSError as exc:
            # Wi-Fi gone, broker unreachable, a timeout robust gave up on: start again.
            print("connection trouble:", exc)
            time.sleep(5)


main()

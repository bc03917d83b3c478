"""Prometheus metrics: one Metrics object per app, on its own registry (tests get a fresh one)."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
)

from .db.calls import CallState
from .db.escalation import AttemptStatus, NotifyChannel
from .db.messages import RejectReason
from .gcpauses import GcPauses

PREFIX = "alert_gateway_"
# twilio/client.py's operations, as the Twilio alert rules count them
TWILIO_OPERATIONS = ("send_sms", "place_call", "place_bridge_call", "fetch_call", "fetch_sms")
TWILIO_ERROR_KINDS = ("transient", "permanent")
WEBHOOK_REFUSALS = ("bad_signature", "missing_signature", "bad_input")
ANSWER_PAGE_OUTCOMES = ("shown", "answered", "replayed", "invalid", "expired", "csrf", "limited")
# ingest/store.py's outcomes for an alarm; a rejection is "rejected_<reason>"
ALARM_OUTCOMES = ("accepted", "duplicate", "restore_unmatched",
                  *(f"rejected_{reason.value}" for reason in RejectReason))
WELLBEING_RESULTS = ("fine", "help", "no_answer")  # wellbeing/check_call.py's CheckAnswer
SWEEP_STATES = ("waiting", "calling", "fine", "help", "not_reached", "no_phone")  # db/sweep.py
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
ACK_BUCKETS = (10, 30, 60, 120, 180, 300, 600, 1200, 1800, 3600)


class Metrics:
    """Every metric the gateway exports. Labels are bounded sets: never device or resident ids."""

    def __init__(self, registry: CollectorRegistry | None = None, *, version: str = "0") -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        # process_* (memory, CPU, open fds, start time; read from /proc) and python_info, as
        # every Prometheus client exports them: a leak or an fd exhaustion shows before it hurts
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)  # python_gc_collections_total, ..._objects_collected_total
        # alert_gateway_gc_pause_seconds: counts once `serve` installs it (gc.callbacks is global)
        self.gc_pauses = GcPauses()
        r.register(self.gc_pauses)
        self.build_info = Info(PREFIX + "build", "Version of the running gateway.", registry=r)
        self.build_info.info({"version": version})
        self.mqtt_messages = Counter(
            PREFIX + "mqtt_messages_total",
            "MQTT messages taken in, by kind (alarm, cancel, heartbeat, ...) and result.",
            ["kind", "result"],
            registry=r,
        )
        self.mqtt_rejected = Counter(
            PREFIX + "mqtt_rejected_total",
            "MQTT messages rejected, by reason.",
            ["reason"],
            registry=r,
        )
        self.mqtt_connected = Gauge(
            PREFIX + "mqtt_connected", "1 while connected to the MQTT broker.", registry=r
        )
        self.mqtt_reconnects = Counter(
            PREFIX + "mqtt_reconnects_total", "Connection attempts after a loss.", registry=r
        )
        self.mqtt_reader_tuned = Gauge(
            PREFIX + "mqtt_reader_tuned",
            "1 with the tuned MQTT reader, 0 with aiomqtt's own (paho/aiomqtt lacked its internals).",
            registry=r,
        )
        self.heartbeats = Counter(
            PREFIX + "heartbeats_received_total", "Device heartbeats received.", registry=r
        )
        self.ingest_unacknowledged = Counter(
            PREFIX + "ingest_unacknowledged_total",
            "Messages neither stored nor kept as rejected (even the rejection failed): left "
            "unacknowledged, so the broker delivers them again after a reconnection.",
            registry=r,
        )
        self.ingest_oldest_pending_seconds = Gauge(
            PREFIX + "ingest_oldest_pending_seconds",
            "Age of the oldest alarm, cancel or rejection read from the broker and not yet "
            "committed and acknowledged (0 when none); grows while ingest is stuck.",
            registry=r,
        )
        self.heartbeat_sightings_dropped = Counter(
            PREFIX + "heartbeat_sightings_dropped_total",
            "Last-seen updates the database refused as they stand (dropped so the rest flush).",
            registry=r,
        )
        self.ingest_batch_seconds = Histogram(
            PREFIX + "ingest_commit_seconds",
            "Time to commit one batch of accepted MQTT messages.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.alerts_opened = Counter(
            PREFIX + "alerts_opened_total",
            "Alerts opened, by type and severity.",
            ["type", "severity"],
            registry=r,
        )
        self.alerts_open = Gauge(
            PREFIX + "alerts_open",
            "Alerts on the board, by status and severity.",
            ["status", "severity"],
            registry=r,
        )
        self.first_notification_seconds = Histogram(
            PREFIX + "alert_first_notification_seconds",
            "From the alarm being stored to the first notification request accepted by Twilio.",
            ["severity"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.time_to_ack_seconds = Histogram(
            PREFIX + "alert_time_to_acknowledge_seconds",
            "From receipt of the alarm to the first human acknowledgement.",
            ["severity", "channel"],
            buckets=ACK_BUCKETS,
            registry=r,
        )
        self.notifications = Counter(
            PREFIX + "notifications_total",
            "Notification attempts that reached a final status, by channel and status.",
            ["channel", "status"],
            registry=r,
        )
        self.console_calls = Counter(
            PREFIX + "console_calls_total",
            "Calls operators started from the console (click-to-call), by how they ended.",
            ["outcome"],
            registry=r,
        )
        self.report_pdf_seconds = Histogram(
            PREFIX + "console_report_pdf_seconds",
            "Time to lay out one monthly report PDF (CPU in a worker thread, one at a time).",
            buckets=(0.5, 1, 2, 4, 8, 16, 32),
            registry=r,
        )
        self.calls_hung_up = Counter(
            PREFIX + "calls_hung_up_total",
            "Live calls about a closed alert ended through the Twilio API, by result "
            "(hung_up, failed).",
            ["result"],
            registry=r,
        )
        self.twilio_request_seconds = Histogram(
            PREFIX + "twilio_request_seconds",
            "Twilio API request time, by operation.",
            ["operation"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.twilio_errors = Counter(
            PREFIX + "twilio_errors_total",
            "Twilio API errors, by operation and kind (transient, permanent).",
            ["operation", "kind"],
            registry=r,
        )
        self.webhooks_refused = Counter(
            PREFIX + "webhook_refused_total",
            "Webhook requests refused, by reason (bad_signature, ...).",
            ["reason"],
            registry=r,
        )
        self.answer_page = Counter(
            PREFIX + "answer_page_total",
            "Answer-page requests by outcome (shown, answered, replayed, invalid, expired, csrf, "
            "limited).",
            ["outcome"],
            registry=r,
        )
        self.line_errors = Counter(
            PREFIX + "line_errors_total",
            "LINE Messaging API errors, by operation (push, reply) and kind (transient, permanent).",
            ["operation", "kind"],
            registry=r,
        )
        self.line_events = Counter(
            PREFIX + "line_events_total",
            "LINE webhook events applied, by kind (accept, decline, arrive, linked, bad_code, follow, "
            "unfollow, ignored).",
            ["kind"],
            registry=r,
        )
        self.engine_lag_seconds = Gauge(
            PREFIX + "engine_lag_seconds",
            "Age of the oldest escalation step that is due but not yet run.",
            registry=r,
        )
        self.oldest_unacknowledged_seconds = Gauge(
            PREFIX + "oldest_unacknowledged_seconds",
            "Age of the oldest open alert nobody has acknowledged yet, by severity.",
            ["severity"], registry=r,
        )
        self.replica_notices = Counter(
            PREFIX + "replica_notices_total",
            "Alert change notices exchanged with other replicas (PostgreSQL NOTIFY), by direction.",
            ["direction"], registry=r,
        )
        self.replica_listener_connected = Gauge(
            PREFIX + "replica_listener_connected",
            "1 while listening for other replicas' notices (PostgreSQL only).", registry=r,
        )
        self.replica_listener_reconnects = Counter(
            PREFIX + "replica_listener_reconnects_total",
            "Connection attempts of the replica listener after a loss.", registry=r,
        )
        self.bus_dropped = Counter(
            PREFIX + "bus_dropped_total",
            "Alert change notices dropped because a listener's queue was full, by listener.",
            ["listener"], registry=r,
        )
        self.devices_offline = Gauge(
            PREFIX + "devices_offline", "Registered devices currently offline.", registry=r
        )
        self.wellbeing_calls = Counter(
            PREFIX + "wellbeing_calls_total",
            "Wellbeing calls (お元気コール) placed and finished, by result: fine (1), help (9), "
            "no_answer (no answer, busy, machine, no key or failed).",
            ["result"], registry=r,
        )
        self.wellbeing_checks = Counter(
            PREFIX + "wellbeing_checks_total",
            "Wellbeing windows settled, by outcome: fine, help, not_reached (every try "
            "unanswered), dropped (schedule changed before the first call).",
            ["outcome"], registry=r,
        )
        self.sweep_residents = Gauge(
            PREFIX + "sweep_residents",
            "Residents in running or paused disaster sweeps, by state: waiting, calling, fine, "
            "help, not_reached, no_phone.",
            ["state"], registry=r,
        )
        self.sweep_answers = Counter(
            PREFIX + "sweep_answers_total",
            "Residents settled by disaster sweeps, by state: fine (1), help (9), not_reached "
            "(every try unanswered), no_phone.",
            ["state"], registry=r,
        )
        self.retention_last_run = Gauge(
            PREFIX + "retention_last_run_timestamp_seconds",
            "When the retention purge last completed (Unix time).", registry=r,
        )
        self.retention_purged = Counter(
            PREFIX + "retention_purged_total",
            "Rows purged of personal data by retention, by kind.", ["kind"], registry=r,
        )
        self._start_at_zero()

    def _start_at_zero(self) -> None:
        """Create the labelled series the alert rules read, at 0.

        A labelled series appears only on its first increment, and `increase()` needs two samples:
        without this the first rejected alarm, bad signature or Twilio error after a restart would
        never fire an alert.
        """
        for outcome in ALARM_OUTCOMES:
            self.mqtt_messages.labels(kind="alarm", result=outcome)
        for reason in RejectReason:
            self.mqtt_rejected.labels(reason=reason.value)
        for operation in TWILIO_OPERATIONS:
            self.twilio_request_seconds.labels(operation=operation)
            for kind in TWILIO_ERROR_KINDS:
                self.twilio_errors.labels(operation=operation, kind=kind)
        for refusal in WEBHOOK_REFUSALS:
            self.webhooks_refused.labels(reason=refusal)
        for outcome in ANSWER_PAGE_OUTCOMES:
            self.answer_page.labels(outcome=outcome)
        for state in CallState:
            if state.is_final:
                self.console_calls.labels(outcome=state.value)
        for result in WELLBEING_RESULTS:
            self.wellbeing_calls.labels(result=result)
        for entry_state in SWEEP_STATES:
            self.sweep_residents.labels(state=entry_state)
            if entry_state not in ("waiting", "calling"):
                self.sweep_answers.labels(state=entry_state)
        for channel in NotifyChannel:
            for status in AttemptStatus:
                if status.is_final:
                    self.notifications.labels(channel=channel.value, status=status.value)

"""Settings of how residents are looked after: Twilio and LINE, escalation, device supervision,
wellbeing calls, the disaster sweep and personal data."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

# A Twilio <Say> voice: Polly.<Name>[-Neural|-Generative], Google.<locale>-<model>, or man/woman/alice
# (https://www.twilio.com/docs/voice/twiml/say/text-speech)
VOICE_PATTERN = r"^(?:(?:Polly|Google)\.[A-Za-z0-9-]{2,40}|man|woman|alice)$"


class CareSettings(BaseModel):
    """Who is told, how, when and for how long things are kept."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    # Twilio
    twilio_api_base: str = "https://api.twilio.com"
    """Twilio API base URL; the project's fake for drills and tests."""
    twilio_account_sid: str = "AC00000000000000000000000000000000"
    """Twilio account SID."""
    twilio_auth_token: SecretStr = SecretStr("change-me")
    """Twilio auth token (never logged); also the webhook signing key."""
    twilio_from_number: str = "+815000000000"
    """The number SMS and calls come from (E.164)."""
    twilio_timeout_seconds: float = Field(default=10.0, ge=0.1, le=120)
    """Bound on every Twilio API request (the SDK ignores its own)."""
    twilio_late_answer_seconds: float = Field(default=30.0, ge=0, le=600)
    """How long from its start a create request that timed out may still be answered: it runs on,
    and its retry waits for that answer rather than look Twilio up while Twilio may hold it (a
    second text). Past it, or at most the timeout, the retry looks up and may send again."""

    # LINE Messaging API (https://developers.line.biz/en/reference/messaging-api/)
    line_api_base: str = "https://api.line.me"
    """LINE Messaging API base URL; the project's fake LINE for drills, tests and the demo."""
    line_channel_secret: SecretStr | None = None
    """The LINE channel secret: X-Line-Signature key of /line/webhook (unset: LINE is off)."""
    line_channel_access_token: SecretStr | None = None
    """The LINE channel access token for push and reply messages (unset: LINE is off)."""
    line_timeout_seconds: float = Field(default=5.0, ge=0.1, le=60)
    """Bound on every LINE API request."""
    line_send_rate_per_second: float = Field(default=100.0, ge=0.1, le=2000)
    """LINE push messages a second from this process (LINE allows 2,000 a second per channel)."""
    line_link_code_hours: int = Field(default=72, ge=1, le=24 * 30)
    """How long a LINE link code stays valid."""

    # escalation
    policies_file: Path | None = None
    """Escalation policies (TOML); unset: the built-in defaults, same as config/policies.toml."""
    dispatch_phone: str | None = None
    """The dispatch centre's phone (E.164), for policy targets `dispatch`."""
    dispatch_name: str = "受信センター"
    """How messages name the dispatch centre."""
    desk_phone: str | None = Field(default=None, pattern=r"^\+[1-9]\d{6,14}$")
    """The centre's desk line (E.164), rung first by click-to-call for an operator whose account
    has no phone of its own."""
    timezone: str = "Asia/Tokyo"
    """Local time zone for night hours and message times."""
    send_rate_per_second: float = Field(default=50.0, ge=0.1, le=100_000)
    """Account-wide Twilio send rate of this process (divide by replicas)."""
    send_concurrency: int = Field(default=16, ge=1, le=1000)
    """Twilio requests in flight at once. Each attempt is marked sending just before its own
    request, so after a crash (SIGKILL) at most this many attempts can be sent twice; 1 makes it
    exactly the single attempt in flight, at the cost of one request's round trip per send."""
    night_start_hour: int = Field(default=22, ge=0, le=23)
    """Night begins (local hour): technical alarms wait, neighbours are not woken."""
    night_end_hour: int = Field(default=7, ge=0, le=23)
    """Night ends (local hour)."""
    cancel_min_seconds: int = Field(default=5, ge=0, le=300)
    """A resident's cancel counts only this long after the alarm."""
    cancel_grace_seconds: int = Field(default=300, ge=1, le=3600)
    """... and only within this window."""
    fall_guard_seconds: int = Field(default=30, ge=0, le=600)
    """Wait for the resident to get up before escalating a fall (a pendant press ends it)."""
    ack_resolve_reminder_minutes: int = Field(default=30, ge=1, le=24 * 60)
    """Remind the console when an acknowledged alert is not resolved in this time."""
    contact_cap_per_window: int = Field(default=6, ge=1, le=100)
    """Escalation sends to one number per window at most; more wait."""
    contact_cap_window_seconds: int = Field(default=600, ge=1, le=86_400)
    """The window of the per-contact cap."""
    answer_link_hours: float = Field(default=24.0, ge=0.1, le=7 * 24)
    """Hours an SMS's one-tap answer link works (it stops earlier when the alert closes)."""
    answer_page_requests_per_minute: int = Field(default=30, ge=1, le=10_000)
    """Answer-page requests (views and taps) one client address may make a minute."""
    voice_ja: str = Field(default="Polly.Kazuha-Neural", pattern=VOICE_PATTERN)
    """Voice that reads Japanese on calls (Twilio Say; Polly neural voices: Kazuha, Tomoko, Takumi)."""
    voice_en: str = Field(default="Polly.Joanna-Neural", pattern=VOICE_PATTERN)
    """Voice that reads English on calls (Twilio Say, e.g. Polly.Joanna-Neural, Polly.Matthew-Neural)."""
    sms_auto_replies_per_hour: int = Field(default=3, ge=0, le=60)
    """Automatic SMS replies per number per hour (no loops with robots)."""

    # device supervision
    offline_tolerance_intervals: int = Field(default=3, ge=1, le=100)
    """Missed heartbeat intervals before a device is offline."""
    low_battery_percent: int = Field(default=20, ge=1, le=99)
    """Battery below this raises one low-battery alert."""
    low_battery_hysteresis_percent: int = Field(default=5, ge=0, le=50)
    """The low-battery alert clears at threshold + this."""
    supervision_check_seconds: float = Field(default=30.0, ge=1, le=86_400)
    """How often supervision looks for silent devices and quiet homes."""
    activity_watch_default_hours: int = Field(default=24, ge=1, le=7 * 24)
    """Inactivity window for a resident with the watch on and no value of their own."""
    activity_watch_min_hours: int = Field(default=5, ge=1, le=7 * 24)
    """Shortest inactivity window allowed."""
    mass_outage_fraction: float = Field(default=0.2, gt=0, le=1)
    """Share of devices offline within the window that makes one mass-outage incident."""
    mass_outage_window_seconds: int = Field(default=300, ge=10, le=86_400)
    """Window of the mass-outage rule."""
    mass_outage_min_devices: int = Field(default=5, ge=1, le=1_000_000)
    """A handful of homes is never a mass outage."""
    mass_outage_resolve_fraction: float = Field(default=0.8, gt=0, le=1)
    """Share of devices back that resolves the incident."""

    # wellbeing calls (お元気コール)
    wellbeing_call_tries: int = Field(default=3, ge=1, le=10)
    """Calls in one wellbeing window before it counts as not reached (a P3 alert to the first
    contact); no answer, busy or an answering machine are each one try."""
    wellbeing_retry_minutes: int = Field(default=20, ge=1, le=24 * 60)
    """Wait between the tries of one wellbeing window (night hours push a try to the morning)."""
    wellbeing_result_minutes: int = Field(default=3, ge=1, le=60)
    """When the scheduler first looks at a placed call's result (a keypress is applied at once;
    this catches no answer and machines)."""

    # disaster sweep (災害時安否確認)
    sweep_concurrent_calls: int = Field(default=10, ge=1, le=500)
    """Sweep calls on the line (or queued) at once; the account send rate still applies, and
    every alarm's sends go before them."""
    sweep_call_tries: int = Field(default=2, ge=1, le=5)
    """Calls to one resident in a sweep before they count as not reached (their neighbour
    volunteer and family are asked to look in)."""
    sweep_retry_minutes: int = Field(default=10, ge=1, le=120)
    """Wait between a sweep's tries to one resident (sweeps run day and night)."""

    # personal data (APPI): docs/personal-data.md
    data_key: SecretStr | None = None
    """Fernet key(s) sealing key-safe codes and medical notes, comma-separated, newest first
    (`alert-gateway data new-key`); required by `serve` outside drill mode."""
    alert_detail_retention_days: int = Field(default=180, ge=1, le=3650)
    """Days after an alert is resolved until its raw payloads, timeline texts, SMS bodies and
    called numbers are purged (the alert, its type, outcome and times stay for statistics)."""
    rejected_message_retention_days: int = Field(default=30, ge=1, le=3650)
    """Days a rejected MQTT message keeps its raw payload."""
    retention_check_hours: float = Field(default=6.0, ge=0.01, le=168)
    """How often the retention purge runs (it also runs at start)."""

    def voice_for(self, language: str) -> str | None:
        """The configured <Say> voice for a BCP-47 language ("ja-JP", "en-US")."""
        return {"ja": self.voice_ja, "en": self.voice_en}.get(language.split("-")[0])

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be an IANA time zone such as Asia/Tokyo") from None
        return zone

"""The alarm sound, generated here with the `wave` module (no downloaded or binary assets)."""

from __future__ import annotations

import io
import math
import struct
import wave
from functools import cache

from aiohttp import web

RATE = 22050
# Two alternating tones (hi-lo), the pattern people read as "alarm"; 880/660 Hz stays audible
# for most people with age-related high-frequency hearing loss.
PATTERN = ((880.0, 0.25), (660.0, 0.25), (880.0, 0.25), (660.0, 0.25), (0.0, 0.4))


@cache
def alarm_wav() -> bytes:
    """A 1.4-second 16-bit mono WAV of the alarm pattern."""
    frames = bytearray()
    for freq, seconds in PATTERN:
        count = int(RATE * seconds)
        for i in range(count):
            # 10 ms fades avoid clicks at tone boundaries.
            fade = min(1.0, i / (RATE * 0.01), (count - i) / (RATE * 0.01))
            sample = 0.6 * fade * math.sin(2 * math.pi * freq * i / RATE) if freq else 0.0
            frames += struct.pack("<h", int(sample * 32767))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(bytes(frames))
    return buffer.getvalue()


async def alarm_sound(request: web.Request) -> web.Response:
    """GET /console/static/alarm.wav."""
    return web.Response(body=alarm_wav(), content_type="audio/wav",
                        headers={"Cache-Control": "public, max-age=86400"})


def add_routes(app: web.Application) -> None:
    """Register the sound (before the static directory, so this route wins)."""
    app.router.add_get("/console/static/alarm.wav", alarm_sound)

"""LastSeenBuffer: latest sighting wins, and a taken batch stays visible until it is stored."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime, timedelta

from alert_gateway.ingest.heartbeats import LastSeenBuffer, chunks

T0 = datetime(2026, 11, 26, 18, 0, 0, 123456, tzinfo=UTC)


def test_latest_time_and_last_known_battery_win() -> None:
    """An older sighting never moves last-seen back; battery and firmware keep their last value."""
    buf = LastSeenBuffer()
    buf.note("p-1", T0 + timedelta(seconds=5), battery=80, firmware="1.2.3")
    buf.note("p-1", T0, battery=None)
    [(device_id, s)] = buf.take().items()
    assert (device_id, s.seen_at, s.battery, s.firmware) == ("p-1", T0 + timedelta(seconds=5), 80, "1.2.3")


def test_taken_sightings_stay_visible_until_stored() -> None:
    """During a flush supervision still sees the sighting; after it is stored only the row has it."""
    buf = LastSeenBuffer()
    buf.note("p-1", T0)
    taken = buf.take()
    assert buf.seen_at("p-1") == T0 and len(buf) == 0
    buf.note("p-1", T0 + timedelta(seconds=1))
    assert buf.seen_at("p-1") == T0 + timedelta(seconds=1)
    buf.settle(taken, stored=True)
    assert buf.seen_at("p-2") is None and buf.seen_at("p-1") == T0 + timedelta(seconds=1)


def test_a_failed_flush_gives_the_sightings_back() -> None:
    """Nothing heard is lost when the database write fails; a newer sighting still wins."""
    buf = LastSeenBuffer()
    buf.note("p-1", T0, battery=50)
    buf.note("p-2", T0)
    taken = buf.take()
    buf.note("p-1", T0 + timedelta(seconds=9))
    buf.settle(taken, stored=False)
    again = buf.take()
    assert sorted(again) == ["p-1", "p-2"]
    assert (again["p-1"].seen_at, again["p-1"].battery) == (T0 + timedelta(seconds=9), 50)


def test_firmware_strings_are_shared_and_chunks_cover_everything() -> None:
    """One string per firmware version; a flush is cut into pieces that together hold all."""
    buf = LastSeenBuffer()
    for i in range(12):
        buf.note(f"p-{i}", T0, firmware="".join(["1.", "2.", "3"]))
    taken = buf.take()
    assert len({id(s.firmware) for s in taken.values()}) == 1
    parts = list(chunks(taken, 5))
    assert [len(p) for p in parts] == [5, 5, 2]
    assert set().union(*parts) == set(taken)


def test_memory_stays_bounded_when_a_device_reports_ever_new_firmware() -> None:
    """150,000 distinct firmware strings from one device keep the buffer's memory flat."""
    buf = LastSeenBuffer()
    buf.note("p-1", T0, firmware="warm-up")  # the dict slot and the first tuple, allocated once
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for i in range(150_000):
            buf.note("p-1", T0, firmware=f"1.0.{i}")
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    grown = after - before
    assert grown < 100_000, f"{grown} bytes kept after 150,000 firmware strings (limit 100,000)"
    assert buf.take()["p-1"].firmware == "1.0.149999"

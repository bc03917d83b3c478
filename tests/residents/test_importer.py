"""Residents files import, re-import without duplicates, and import nothing when a row is bad."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import func, select

from alert_gateway.clock import FakeClock
from alert_gateway.db.engine import SessionFactory
from alert_gateway.db.residents import Contact, Device, Resident
from alert_gateway.residents import service
from alert_gateway.residents.importer import ImportErrors, import_file, parse_file

ROOT = Path(__file__).resolve().parents[2]

ISSUE_YAML = """\
residents:
  - id: r-0001
    name: 山田 花子
    kana: ヤマダ ハナコ
    address: 石川県金沢市広坂1-1-1
    phone: "+81762201111"
    language: ja
    devices:
      - {id: pendant-0001, kind: pendant, heartbeat_interval: 300}
    contacts:
      - {name: 山田 太郎, relation: family, phone: "+819012345678", priority: 1}
      - {name: 田中 一郎, relation: neighbour, phone: "+819087654321", priority: 2}
"""

CSV_HEADER = (
    "record,resident_id,id,name,kana,phone,relation,priority,channels,kind,heartbeat_interval"
)
GOOD_CSV = f"""\
{CSV_HEADER}
resident,,r-0001,山田 花子,ヤマダ ハナコ,076-220-1111,,,,,
device,r-0001,pendant-0001,,,,,,,pendant,300
contact,r-0001,,山田 太郎,,090-1234-5678,family,1,"sms,voice",,
contact,r-0001,,田中 一郎,,076-221-4455,neighbour,2,voice,,
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    """A file in the test's directory."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


async def counts(sessions: SessionFactory) -> tuple[int, int, int]:
    """How many residents, contacts and devices the database holds."""
    async with sessions() as s:
        found = [
            (await s.exec(select(func.count()).select_from(table))).one()
            for table in (Resident, Contact, Device)
        ]
    return found[0], found[1], found[2]


async def test_the_issue_yaml_imports_as_it_stands(
    sessions: SessionFactory, tmp_path: Path, clock: FakeClock
) -> None:
    """The YAML from the issue creates one resident, one pendant and two contacts in order."""
    path = write(tmp_path, "residents.yaml", ISSUE_YAML)
    async with sessions() as s:
        report = await import_file(s, path, now=clock.now())
    assert report.ok, report.errors
    assert (report.residents_created, report.devices_created, report.contacts_created) == (1, 1, 2)
    async with sessions() as s:
        resident = await service.get(s, resident_id="r-0001")
        contacts = await service.contacts_for(s, resident_id="r-0001")
        devices = await service.devices_for(s, resident_id="r-0001")
    assert (resident.name, resident.phone, resident.phone_type) == (
        "山田 花子",
        "+81762201111",
        "landline",
    )
    assert resident.created_at == clock.now()
    assert [(c.name, c.phone_type, c.channels) for c in contacts] == [
        ("山田 太郎", "mobile", "sms,voice"),
        ("田中 一郎", "mobile", "sms,voice"),
    ]
    assert [(d.id, d.kind, d.heartbeat_interval) for d in devices] == [
        ("pendant-0001", "pendant", 300)
    ]


async def test_reimport_updates_without_duplicates(
    sessions: SessionFactory, tmp_path: Path, clock: FakeClock
) -> None:
    """Importing the same file again says "updated", adds no rows and keeps a STOP opt-out."""
    path = write(tmp_path, "residents.yaml", ISSUE_YAML)
    async with sessions() as s:
        await import_file(s, path, now=clock.now())
        contact = (await service.contacts_for(s, resident_id="r-0001"))[0]
        contact.sms_opt_out = True
        await s.commit()
    first = clock.now()
    await clock.advance(hours=1)
    async with sessions() as s:
        report = await import_file(s, path, now=clock.now())
    assert report.ok
    assert (report.residents_created, report.contacts_created, report.devices_created) == (0, 0, 0)
    assert (report.residents_updated, report.contacts_updated, report.devices_updated) == (1, 2, 1)
    assert await counts(sessions) == (1, 2, 1)
    async with sessions() as s:
        resident = await service.get(s, resident_id="r-0001")
        contacts = await service.contacts_for(s, resident_id="r-0001")
    assert resident.updated_at == first  # nothing changed, so nothing was touched
    assert contacts[0].sms_opt_out is True


async def test_reimport_applies_changes_from_the_file(
    sessions: SessionFactory, tmp_path: Path, clock: FakeClock
) -> None:
    """A changed name and priority in the file are applied to the same rows."""
    path = write(tmp_path, "residents.yaml", ISSUE_YAML)
    async with sessions() as s:
        await import_file(s, path, now=clock.now())
    changed = ISSUE_YAML.replace("name: 山田 花子", "name: 山田 はな子").replace(
        "priority: 2", "priority: 0"
    )
    changed = changed.replace("priority: 1}", "priority: 3}").replace(
        "priority: 0}", "priority: 1}"
    )
    await clock.advance(60)
    async with sessions() as s:
        report = await import_file(s, write(tmp_path, "residents.yaml", changed), now=clock.now())
        resident = await service.get(s, resident_id="r-0001")
        contacts = await service.contacts_for(s, resident_id="r-0001")
    assert report.ok and report.residents_updated == 1
    assert (resident.name, resident.updated_at) == ("山田 はな子", clock.now())
    assert [c.name for c in contacts] == ["田中 一郎", "山田 太郎"]


@pytest.mark.parametrize(
    ("bad", "good", "line", "field", "message"),
    [
        (
            'phone: "+819087654321"',
            'phone: "090-1234-567"',
            12,
            "phone",
            "not a valid phone number",
        ),
        ("relation: neighbour", "relation: friend", 12, "relation", "'friend'"),
        ("name: 山田 花子", "name:", 3, "name", "is required"),
    ],
)
async def test_one_bad_row_reports_its_line_and_imports_nothing(
    sessions: SessionFactory,
    tmp_path: Path,
    clock: FakeClock,
    bad: str,
    good: str,
    line: int,
    field: str,
    message: str,
) -> None:
    """A bad phone, an unknown relation or a missing name: its line is reported, no row written."""
    text = ISSUE_YAML.replace(bad, good)
    async with sessions() as s:
        report = await import_file(s, write(tmp_path, "residents.yaml", text), now=clock.now())
    assert not report.ok
    assert [(e.line, e.field) for e in report.errors] == [(line, field)]
    assert message in report.errors[0].message
    assert await counts(sessions) == (0, 0, 0)


async def test_the_csv_form_imports_and_reimports(
    sessions: SessionFactory, tmp_path: Path, clock: FakeClock
) -> None:
    """CSV rows nest under their resident; national phones become E.164; a re-import updates."""
    path = write(tmp_path, "residents.csv", GOOD_CSV)
    async with sessions() as s:
        report = await import_file(s, path, now=clock.now())
    assert report.ok, report.errors
    assert (report.residents_created, report.devices_created, report.contacts_created) == (1, 1, 2)
    async with sessions() as s:
        again = await import_file(s, path, now=clock.now())
        contacts = await service.contacts_for(s, resident_id="r-0001")
    assert (again.residents_updated, again.contacts_updated, again.devices_updated) == (1, 2, 1)
    assert [(c.phone, c.phone_type, c.channels) for c in contacts] == [
        ("+819012345678", "mobile", "sms,voice"),
        ("+81762214455", "landline", "voice"),
    ]
    assert await counts(sessions) == (1, 2, 1)


@pytest.mark.parametrize(
    ("row", "field", "message"),
    [
        (
            "contact,r-0001,,鈴木 次郎,,090-1234-567,family,3,,,",
            "phone",
            "not a valid phone number",
        ),
        ("contact,r-0001,,鈴木 次郎,,090-1111-2222,friend,3,,,", "relation", "'friend'"),
        ("contact,r-0001,,,,090-1111-2222,family,3,,,", "name", "is required"),
        ("contact,r-0009,,鈴木 次郎,,090-1111-2222,family,3,,,", "resident_id", "no resident row"),
        ("device,r-0001,fall-0001,,,,family,,,fall_detector,60", "relation", "does not apply"),
    ],
)
async def test_a_bad_csv_row_reports_its_line_and_imports_nothing(
    sessions: SessionFactory, tmp_path: Path, clock: FakeClock, row: str, field: str, message: str
) -> None:
    """The CSV row number (header = line 1) and the column are reported; no row is written."""
    path = write(tmp_path, "residents.csv", GOOD_CSV + row + "\n")
    async with sessions() as s:
        report = await import_file(s, path, now=clock.now())
    assert [(e.line, e.field) for e in report.errors] == [(6, field)]
    assert message in report.errors[0].message
    assert await counts(sessions) == (0, 0, 0)


async def test_the_demo_residents_import_cleanly(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """config/demo/residents.yaml imports with no error and holds what the demo relies on."""
    async with sessions() as s:
        report = await import_file(s, ROOT / "config/demo/residents.yaml", now=clock.now())
    assert report.ok, report.errors
    assert 5 <= report.residents_created <= 8
    async with sessions() as s:
        residents = await service.get_all(s)
        contacts = list((await s.exec(select(Contact))).all())
        devices = list((await s.exec(select(Device))).all())
    assert any(r.activity_watch_hours == 12 for r in residents)
    assert any(r.key_safe_code for r in residents)
    assert any(c.phone_type == "landline" and c.channels == "voice" for c in contacts)
    for resident in residents:
        kinds = {d.kind for d in devices if d.resident_id == resident.id}
        assert "pendant" in kinds and resident.address and "金沢市" in resident.address
        assert 2 <= sum(c.resident_id == resident.id for c in contacts) <= 3
    assert all(60 <= d.heartbeat_interval <= 300 for d in devices)


def test_the_example_csv_parses() -> None:
    """config/examples/residents.csv is a valid import file."""
    records = parse_file(ROOT / "config/examples/residents.csv")
    assert [r.id for r in records] == ["r-0101", "r-0102"]
    assert records[0].key_safe_code == "4721"


def test_yaml_numbers_that_are_really_codes_keep_their_digits(tmp_path: Path) -> None:
    """An unquoted key-safe code 0123 and phone +81... are read as written, not as integers."""
    text = ISSUE_YAML.replace(
        'phone: "+81762201111"', "phone: +81762201111\n    key_safe_code: 0123"
    )
    [record] = parse_file(write(tmp_path, "residents.yaml", text))
    assert (record.key_safe_code, record.phone) == ("0123", "+81762201111")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    """Duplicate ids and phones, a misspelt key and a YAML duplicate key all come back together."""
    second = ISSUE_YAML.split("residents:\n", 1)[1]
    second = second.replace("language: ja", "langauge: ja").replace(
        "kana: ヤマダ ハナコ", "kana: a\n    kana: b"
    )
    extra = '\n      - {name: X, relation: family, phone: "090-8765-4321"}'
    text = ISSUE_YAML.replace("priority: 2}", "priority: 2}" + extra) + second
    with pytest.raises(ImportErrors) as caught:
        parse_file(write(tmp_path, "residents.yaml", text))
    found = {(e.line, e.field, e.message) for e in caught.value.errors}
    assert found == {
        (13, "phone", "this phone already given on line 12"),
        (14, "id", "resident already given on line 2"),
        (17, "kana", "this key appears twice"),
        (20, "langauge", "unknown field (check the spelling)"),
        (22, "id", "device already given on line 9"),
    }


def test_a_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    """Broken YAML is reported with the line it breaks on."""
    with pytest.raises(ImportErrors) as caught:
        parse_file(
            write(
                tmp_path,
                "residents.yaml",
                ISSUE_YAML.replace("kana: ヤマダ ハナコ", "kana: [ヤマダ"),
            )
        )
    assert caught.value.errors[0].line > 0
    assert "YAML" in caught.value.errors[0].message


def test_shift_jis_csv_from_excel_is_read(tmp_path: Path) -> None:
    """Japanese Excel saves CSV as Shift_JIS; it imports the same."""
    path = tmp_path / "residents.csv"
    path.write_bytes(GOOD_CSV.encode("cp932"))
    assert parse_file(path)[0].name == "山田 花子"

"""A resident edit the database does not take shows the form again with a message, never a 500."""

from __future__ import annotations

from alert_gateway.db.residents import Resident

from .conftest import SUPERVISOR, Console
from .factories import add_resident

# A rule of the database the edge validation knows nothing about (as a DBA's constraint would be).
REFUSE = {
    "sqlite": ["CREATE TRIGGER refuse_edit BEFORE UPDATE ON resident WHEN NEW.address = '不可' "
               "BEGIN SELECT RAISE(ABORT, 'refused by a rule of this database'); END"],
    "postgresql": [
        "CREATE FUNCTION refuse_edit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION 'refused by a rule of this database' USING ERRCODE = 'check_violation'; "
        "END $$",
        "CREATE TRIGGER refuse_edit BEFORE UPDATE ON resident FOR EACH ROW "
        "WHEN (NEW.address = '不可') EXECUTE FUNCTION refuse_edit()",
    ],
}
# The UPDATE finds no row, as when another supervisor's session removed it meanwhile.
VANISH = {
    "sqlite": ["CREATE TRIGGER vanish BEFORE UPDATE ON resident BEGIN SELECT RAISE(IGNORE); END"],
    "postgresql": [
        "CREATE FUNCTION vanish() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$",
        "CREATE TRIGGER vanish BEFORE UPDATE ON resident FOR EACH ROW EXECUTE FUNCTION vanish()",
    ],
}


async def _install(console: Console, statements: dict[str, list[str]]) -> None:
    engine = console.services.engine
    async with engine.begin() as conn:
        for sql in statements[engine.dialect.name]:
            await conn.exec_driver_sql(sql)


async def _address(console: Console) -> str | None:
    async with console.services.sessions() as session:
        resident = await session.get(Resident, "r-001")
        assert resident is not None
        return resident.address


async def test_an_edit_the_database_refuses_shows_the_form_again(console_on_both: Console) -> None:
    """The supervisor sees their values again with a message in Japanese (400); nothing is saved."""
    console = console_on_both
    await add_resident(console.services)
    await _install(console, REFUSE)
    csrf = await console.sign_in(SUPERVISOR)
    response = await console.client.post("/console/residents/r-001", data={
        "csrf_token": csrf, "name": "金沢 ハナ", "address": "不可", "notes": "夜間は裏口"},
        headers={"Accept": "text/html"})
    page = await response.text()
    assert response.status == 400, page
    assert "データベースがこの変更を受け付けませんでした" in page, page
    assert "夜間は裏口" in page, "the values typed must be shown again"
    assert await _address(console) == "石川県金沢市広坂1-1-1"


async def test_an_edit_of_a_record_gone_meanwhile_is_a_conflict(console_on_both: Console) -> None:
    """When the UPDATE finds no row the supervisor is told to open the record again (409)."""
    console = console_on_both
    await add_resident(console.services)
    await _install(console, VANISH)
    csrf = await console.sign_in(SUPERVISOR)
    response = await console.client.post("/console/residents/r-001", data={
        "csrf_token": csrf, "name": "金沢 ハナ", "address": "金沢市野町2-2"},
        headers={"Accept": "text/html"})
    page = await response.text()
    assert response.status == 409, page
    assert "他の操作で変更または削除されました" in page, page
    assert await _address(console) == "石川県金沢市広坂1-1-1"

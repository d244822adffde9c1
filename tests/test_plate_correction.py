"""Plate correction and re-matching end to end: real lanes send their camera reads over
the real lane link, an agent looks at the plate crop and corrects a misread plate or
matches an exit to an open stay over HTTP, and the stays and the ledger show it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx

from console.ledger import AuditAction, AuditEntry
from console.models import Direction, Role
from console.settings import Settings
from console.sqlite_store import SQLiteStore
from console.vehicles.model import Recorded
from tests.conftest import Centre, LaneFactory, start_centre
from tests.lanes import seen
from tests.pictures import decoded
from tests.test_vehicle_records import next_recorded, recorded
from tests.test_vehicle_store import event

RIGHT, MISREAD = "粤B12345", "粤B1Z345"
PARK = "人民路停车场"


async def entered_and_misread_exit(centre: Centre, lanes: LaneFactory) -> tuple[Recorded, Recorded]:
    """A car in, read right, and out, its plate misread (the picture is of the car)."""
    await centre.add_lane("P1-IN", Direction.ENTRY)
    entry_lane, exit_lane = await lanes("P1-IN"), await lanes("P1-OUT")
    async with recorded(centre) as done:
        entry_lane.driver.emit(seen(RIGHT))
        entered = await next_recorded(done)
        exit_lane.driver.emit(replace(seen(RIGHT), plate=MISREAD))
        left = await next_recorded(done)
    assert (entered.change.value, left.change.value) == ("opened", "no_entry")
    return entered, left


async def ledgered(centre: Centre, action: AuditAction) -> list[AuditEntry]:
    return [entry async for entry in centre.store.iter_audit() if entry.action is action]


async def candidates(client: httpx.AsyncClient, plate: str) -> list[dict[str, Any]]:
    response = await client.get("/api/stays/candidates", params={"car_park": PARK, "plate": plate})
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["candidates"]
    return found


def jpeg_height(response: httpx.Response) -> int:
    assert (response.status_code, response.headers["content-type"]) == (200, "image/jpeg")
    return int(decoded(response.content).shape[0])


async def test_an_agent_corrects_a_misread_exit_and_the_right_stay_closes(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """From the exit's crop the agent types the plate; the exit then closes the car's
    stay, its no_entry stay is gone, and the ledger holds both plates."""
    entered, left = await entered_and_misread_exit(staffed, lanes)
    async with staffed.client("alice") as client:
        [listed] = (await client.get("/api/lanes/P1-OUT/vehicles")).json()["vehicles"]
        assert jpeg_height(await client.get(listed["crop_url"])) == 120
        response = await client.post(
            f"/api/vehicles/{left.event_id}/plate",
            json={"plate": "粤b·12345", "note": "read from the crop"},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["plate"], body["corrected_plate"]) == (MISREAD, RIGHT)
        assert (body["stay_id"], body["stay_change"], body["stay_state"]) == (
            entered.stay_id,
            "closed",
            "exited",
        )
        [entry] = (await client.get("/api/lanes/P1-IN/vehicles")).json()["vehicles"]
        assert entry["stay_state"] == "exited"
        assert await candidates(client, RIGHT) == []
    assert await staffed.store.stay(left.stay_id or 0) is None
    [ledger] = await ledgered(staffed, AuditAction.PLATE_CORRECTED)
    assert (ledger.actor, ledger.lane) == ("alice", "P1-OUT")
    assert (ledger.detail["old_plate"], ledger.detail["new_plate"]) == (MISREAD, RIGHT)
    assert ledger.detail["note"] == "read from the crop"


async def test_a_no_entry_exit_is_matched_to_a_stay_the_candidates_offer(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """The misread exit's plate ranks the car's open stay first, with the entry's crop;
    matching links them and the stay leaves the candidates."""
    entered, left = await entered_and_misread_exit(staffed, lanes)
    async with staffed.client("bob") as client:
        [offered] = await candidates(client, MISREAD)
        assert (offered["stay_id"], offered["plate"], offered["car_park"]) == (
            entered.stay_id,
            RIGHT,
            PARK,
        )
        assert (offered["entry_event"], offered["cost"]) == (entered.event_id, 1)
        assert offered["entered_at"] == "2026-11-23T11:32:04.123Z"
        assert jpeg_height(await client.get(offered["crop_url"])) == 120
        response = await client.post(
            f"/api/stays/{offered['stay_id']}/match", json={"event_id": left.event_id}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["stay_id"], body["stay_change"], body["stay_state"]) == (
            entered.stay_id,
            "closed",
            "exited",
        )
        assert await candidates(client, MISREAD) == []
        again = await client.post(
            f"/api/stays/{offered['stay_id']}/match", json={"event_id": left.event_id}
        )
        assert (again.status_code, again.json()["error"]) == (409, "already_matched")
    [ledger] = await ledgered(staffed, AuditAction.STAY_MATCHED)
    assert ledger.actor == "bob"
    assert (ledger.detail["old_plate"], ledger.detail["new_plate"]) == (MISREAD, RIGHT)
    assert (ledger.detail["stay"], ledger.detail["removed_stay"]) == (
        entered.stay_id,
        left.stay_id,
    )


async def test_a_corrected_entry_is_found_under_its_new_plate_by_the_next_exit(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """The index follows the correction: the car's exit closes its stay by itself."""
    await staffed.add_lane("P1-IN", Direction.ENTRY)
    entry_lane, exit_lane = await lanes("P1-IN"), await lanes("P1-OUT")
    async with recorded(staffed) as done:
        entry_lane.driver.emit(replace(seen(RIGHT), plate=MISREAD))
        entered = await next_recorded(done)
        async with staffed.client("alice") as client:
            response = await client.post(
                f"/api/vehicles/{entered.event_id}/plate", json={"plate": RIGHT}
            )
            assert response.json()["stay_state"] == "open"
            [offered] = await candidates(client, RIGHT)
            assert (offered["stay_id"], offered["plate"], offered["cost"]) == (
                entered.stay_id,
                RIGHT,
                0,
            )
            again = await client.post(
                f"/api/vehicles/{entered.event_id}/plate", json={"plate": RIGHT}
            )
            assert (again.status_code, again.json()["error"]) == (409, "same_plate")
        exit_lane.driver.emit(seen(RIGHT))
        left = await next_recorded(done)
    assert (left.change.value, left.stay_id) == ("closed", entered.stay_id)
    assert len(await ledgered(staffed, AuditAction.PLATE_CORRECTED)) == 1


async def test_a_centre_ranks_the_stays_opened_before_it_started(
    settings: Settings, store: SQLiteStore
) -> None:
    """The index is built from the store's open stays when the centre starts."""
    await store.record_vehicle(event("in", plate=RIGHT))
    running = await start_centre(settings, store)
    try:
        centre = running.centre(store, settings)
        await centre.add_user("alice", Role.AGENT)
        await centre.add_lane("P1-OUT")
        async with centre.client("alice") as client:
            [offered] = await candidates(client, MISREAD)
        assert (offered["entry_event"], offered["plate"]) == ("in", RIGHT)
    finally:
        await running.stop()

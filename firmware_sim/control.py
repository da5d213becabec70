"""World control over HTTP: the physical truth, and hands to open doors and move items."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

from firmware_sim.cabinet import Cabinet
from firmware_sim.faults import Faults, Lie
from firmware_sim.world import WorldError

T = TypeVar("T")


class DoorAction(BaseModel):
    force: bool = False


class ItemMove(BaseModel):
    channel: int = Field(ge=0)
    sku: str
    count: int = Field(ge=1, le=100)


class FaultsUpdate(BaseModel):
    corrupt: float | None = Field(None, ge=0, le=1)
    drop: float | None = Field(None, ge=0, le=1)
    dead_boards: set[int] | None = None
    stuck_locks: set[int] | None = None
    dead_channels: set[int] | None = None
    scale_drift: dict[int, float] | None = None
    scale_creep: dict[int, float] | None = None
    scale_noise: dict[int, float] | None = None
    stuck_channels: set[int] | None = None
    compressor: Literal["ok", "failed"] | None = None
    lies: set[Lie] | None = None


def state(cabinet: Cabinet) -> dict[str, Any]:
    """The physical truth (GET /state)."""
    w = cabinet.world
    with w.lock:
        w.advance()
        return {
            "layout": w.layout.name,
            "sim_time_s": round(w.now(), 3),
            "doors": [
                {"door": n, "open": d.open, "locked": d.engaged, "forced": d.forced, "pulsed_at": d.pulsed_at}
                for n, d in enumerate(w.doors)
            ],
            "channels": [
                {
                    "channel": number,
                    "door": cell.door,
                    "grams": round(cell.true_grams() - cell.tray_g, 1),
                    "lanes": [
                        {"lane": lane, "sku": cell.skus[lane], "count": len(pieces)}
                        for lane, pieces in sorted(cell.pieces.items())
                    ],
                    # Pieces left on this shelf though it has no lane for them (a misplaced product).
                    "loose": [{"sku": sku, "count": len(p)} for sku, p in sorted(cell.loose.items()) if p],
                }
                for number, cell in sorted(w.cells.items())
            ],
            "temperatures_c": [round(t, 2) for t in w.temps_c],
            "hour": round(w.hour(), 3),
            "ambient_c": round(w.ambient_c(), 2),
            "compressor_on": w.compressor_on,
            "compressor_ok": w.compressor_ok,
            "setpoint_c": w.setpoint_c,
            "pending_events": len(w.events),
        }


def _act(action: Callable[[], T]) -> T:
    try:
        return action()
    except WorldError as exc:
        raise HTTPException(409, str(exc)) from None


def control_app(cabinet: Cabinet, on_power_loss: Callable[[], None] | None = None) -> FastAPI:
    app = FastAPI(title="vendfleet simulated cabinet: world control")
    world = cabinet.world

    @app.get("/state")
    def get_state() -> dict[str, Any]:
        return state(cabinet)

    @app.post("/doors/{door}/open")
    def open_door(door: int, body: DoorAction | None = None) -> dict[str, Any]:
        _act(lambda: world.open_door(door, force=bool(body and body.force)))
        return state(cabinet)

    @app.post("/doors/{door}/close")
    def close_door(door: int) -> dict[str, Any]:
        _act(lambda: world.close_door(door))
        return state(cabinet)

    @app.post("/take")
    def take(move: ItemMove) -> dict[str, Any]:
        _act(lambda: world.take(move.channel, move.sku, move.count))
        return state(cabinet)

    @app.post("/put")
    def put(move: ItemMove) -> dict[str, Any]:
        _act(lambda: world.put(move.channel, move.sku, move.count))
        return state(cabinet)

    @app.post("/faults")
    def set_faults(update: FaultsUpdate) -> Faults:
        return cabinet.set_faults(update.model_dump(exclude_none=True))

    @app.post("/power_loss")
    def power_loss() -> dict[str, Any]:
        (on_power_loss or cabinet.power_loss)()
        return state(cabinet)

    @app.post("/clock/advance")
    def advance(seconds: float) -> dict[str, Any]:
        world.clock.advance(seconds)
        return state(cabinet)

    return app

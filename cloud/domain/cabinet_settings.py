"""Per-cabinet settings: fleet defaults, overridden per store, then per cabinet (protocols CabinetSettings).

What a cabinet gets travels in its signed config; every change to it raises the cabinet's config version,
so the gateway applies it and the cloud can tell which version a gateway runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy import ScalarSelect, select
from sqlalchemy.orm import Session

from cloud import Refused
from cloud.db.models import Cabinet, FleetSettings, Store, User
from cloud.domain.auth import require_role, require_store
from protocols.mqtt.schemas import CabinetSettings

log = structlog.get_logger("cloud.settings")
FIELDS = frozenset(CabinetSettings.model_fields)
FLEET_ROW = 1
FLEET_ROW_CACHE = "vf_fleet_settings"  # key in Session.info


def fleet_defaults(db: Session) -> CabinetSettings:
    """Read once per database session (the ORM forgets an unreferenced row: a query per telemetry sample)."""
    if FLEET_ROW_CACHE not in db.info:
        row = db.get(FleetSettings, FLEET_ROW)
        remember_fleet_values(db, row.values if row else None)
    return db.info[FLEET_ROW_CACHE]  # type: ignore[no-any-return]


def fleet_values() -> ScalarSelect[Any]:
    """The stored fleet defaults as a column of a caller's query (see remember_fleet_values)."""
    return select(FleetSettings.values).where(FleetSettings.id == FLEET_ROW).scalar_subquery()


def remember_fleet_values(db: Session, values: dict[str, Any] | None) -> None:
    """What a caller read with fleet_values(): fleet_defaults then needs no query of its own."""
    db.info[FLEET_ROW_CACHE] = CabinetSettings.model_validate(_known(values)) if values else CabinetSettings()


def effective_settings(db: Session, cabinet: Cabinet) -> CabinetSettings:
    """What the cabinet runs on: cabinet override > store override > fleet default.

    Overrides stored by an older version that this one refuses (a bound tightened since) are passed
    over a level at a time, so they cannot stop the cabinet's telemetry or sessions being handled."""
    fleet, store, own = _layers(db, cabinet)
    for merged in ({**fleet, **store, **own}, {**fleet, **store}):
        try:
            return CabinetSettings.model_validate(merged)
        except ValidationError as exc:
            log.warning(
                "stored settings refused, one level passed over", cabinet=cabinet.code, error=str(exc)
            )
    return CabinetSettings.model_validate(fleet)


class Resolver:
    """Effective settings of many cabinets in one transaction: cabinets of a store with the same
    overrides (most have none) share one look-up and one validation, not one each."""

    def __init__(self, db: Session) -> None:
        self._db = db
        self._known: dict[tuple[int, str], CabinetSettings] = {}

    def key(self, store_id: int, overrides: object) -> tuple[int, str]:
        return store_id, repr(overrides)

    def known(self, store_id: int, overrides: object) -> CabinetSettings | None:
        return self._known.get(self.key(store_id, overrides))

    def of(self, cabinet: Cabinet) -> CabinetSettings:
        key = self.key(cabinet.store_id, cabinet.settings)
        if key not in self._known:
            self._known[key] = effective_settings(self._db, cabinet)
        return self._known[key]


def _checked(db: Session, cabinet: Cabinet) -> CabinetSettings:
    """As effective_settings, but an invalid override is refused (Refused, code invalid_setting)."""
    fleet, store, own = _layers(db, cabinet)
    try:
        return CabinetSettings.model_validate({**fleet, **store, **own})
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        name = ".".join(str(p) for p in error["loc"]) or "settings"
        why = str(error["msg"]).removeprefix("Value error, ")
        raise Refused(
            f"{name}: {why} (cabinet {cabinet.code})", code="invalid_setting", name=name, reason=why
        ) from None


def _layers(db: Session, cabinet: Cabinet) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The fleet defaults, the store's overrides, the cabinet's."""
    return fleet_defaults(db).model_dump(), _known(cabinet.store.settings), _known(cabinet.settings)


def overrides(target: Store | Cabinet) -> dict[str, Any]:
    """What this store or cabinet sets itself."""
    return _known(target.settings)


def install_fleet_defaults(db: Session, defaults: CabinetSettings) -> list[Cabinet]:
    """The defaults of this cloud's settings become the fleet's; returns the cabinets whose settings
    changed (their config versions raised)."""
    return _changing(db, list(db.scalars(select(Cabinet))), lambda: _write_fleet(db, defaults))


def set_overrides(
    db: Session,
    user: User,
    values: dict[str, Any],
    *,
    store: Store | None = None,
    cabinet: Cabinet | None = None,
) -> list[Cabinet]:
    """Replace the overrides of one store or one cabinet (ops of that store, or admin); returns the
    cabinets whose settings changed. Refused, nothing changed, if a field is unknown or a value invalid
    for any cabinet it reaches."""
    require_role(user, "ops")
    target = cabinet or store
    assert target is not None
    require_store(user, cabinet.store_id if cabinet else target.id)
    unknown = sorted(set(values) - FIELDS)
    if unknown:
        raise Refused(f"unknown settings {unknown}", code="unknown_setting", names=unknown)
    reached = [cabinet] if cabinet else list(target.cabinets)  # type: ignore[union-attr]

    def write() -> None:
        target.settings = dict(values)

    return _changing(db, reached, write)


def _changing(db: Session, cabinets: list[Cabinet], write: Callable[[], None]) -> list[Cabinet]:
    """Apply `write`; raise the config version of each cabinet whose settings it changed. The cabinets
    are locked first (in id order): two changes at once must not both give a cabinet the same version."""
    query = select(Cabinet).where(Cabinet.id.in_([c.id for c in cabinets])).order_by(Cabinet.id)
    cabinets = list(db.scalars(query.with_for_update().execution_options(populate_existing=True)))
    before = {c.id: effective_settings(db, c) for c in cabinets}
    write()
    db.flush()
    changed = []
    for cabinet in cabinets:
        if _checked(db, cabinet) != before[cabinet.id]:
            cabinet.config_version = max(1, cabinet.config_version) + 1
            changed.append(cabinet)
    return changed


def _write_fleet(db: Session, defaults: CabinetSettings) -> None:
    row = db.get(FleetSettings, FLEET_ROW)
    if row is None:
        db.add(FleetSettings(id=FLEET_ROW, values=defaults.model_dump(mode="json")))
    else:
        row.values = defaults.model_dump(mode="json")
    db.info[FLEET_ROW_CACHE] = defaults


def _known(values: dict[str, Any] | None) -> dict[str, Any]:
    """Overrides of fields this version knows (a field since removed is ignored, not fatal)."""
    return {k: v for k, v in (values or {}).items() if k in FIELDS}

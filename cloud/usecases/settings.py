"""Per-cabinet settings: the fleet defaults, and overrides per store and per cabinet, set by ops of the
store. A change raises the version of every cabinet it reaches and sends each its new signed config
through the outbox, in the same transaction."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session as Db

from cloud import NotFound
from cloud.context import CloudContext
from cloud.db.engine import transaction
from cloud.db.models import Cabinet, Store, User
from cloud.domain import cabinet_settings
from cloud.domain.auth import in_store, require_role, require_store
from cloud.domain.fleet import cabinet_by_code, publish_config
from protocols.mqtt.schemas import CabinetSettings


class StoreSettings(BaseModel):
    store_id: int
    code: str
    name_zh: str
    name_en: str
    overrides: dict[str, Any]


class CabinetSettingsView(BaseModel):
    code: str
    store_id: int
    config_version: int = Field(description="raised by every change to what the cabinet gets")
    overrides: dict[str, Any]
    effective: CabinetSettings


class FleetSettingsView(BaseModel):
    defaults: CabinetSettings = Field(description="from the cloud's settings (VF_FLEET__*)")
    stores: list[StoreSettings]
    cabinets: list[CabinetSettingsView]


def _store_view(store: Store) -> StoreSettings:
    return StoreSettings(
        store_id=store.id,
        code=store.code,
        name_zh=store.name_zh,
        name_en=store.name_en,
        overrides=cabinet_settings.overrides(store),
    )


def _cabinet_view(db: Db, cabinet: Cabinet) -> CabinetSettingsView:
    return CabinetSettingsView(
        code=cabinet.code,
        store_id=cabinet.store_id,
        config_version=max(1, cabinet.config_version),
        overrides=cabinet_settings.overrides(cabinet),
        effective=cabinet_settings.effective_settings(db, cabinet),
    )


def fleet(context: CloudContext, user: User) -> FleetSettingsView:
    """The fleet defaults, and the overrides and resulting settings of the caller's stores and cabinets."""
    require_role(user, "ops")
    with context.factory() as db:
        stores = [s for s in db.scalars(select(Store).order_by(Store.code)) if in_store(user, s.id)]
        cabinets = [
            c for c in db.scalars(select(Cabinet).order_by(Cabinet.code)) if in_store(user, c.store_id)
        ]
        return FleetSettingsView(
            defaults=cabinet_settings.fleet_defaults(db),
            stores=[_store_view(s) for s in stores],
            cabinets=[_cabinet_view(db, c) for c in cabinets],
        )


def cabinet(context: CloudContext, user: User, code: str) -> CabinetSettingsView:
    require_role(user, "ops")
    with context.factory() as db:
        found = cabinet_by_code(db, code)
        require_store(user, found.store_id)
        return _cabinet_view(db, found)


def set_store(context: CloudContext, user: User, store_id: int, values: dict[str, Any]) -> StoreSettings:
    """Replace the store's overrides (a field left out: the fleet default)."""
    require_role(user, "ops")
    with transaction(context.factory) as db:
        store = db.get(Store, store_id)
        if store is None:
            raise NotFound(f"no store {store_id}", code="no_store", store_id=store_id)
        require_store(user, store.id)
        _republish(context, db, cabinet_settings.set_overrides(db, user, values, store=store))
        view = _store_view(store)
    context.outbox_committed()
    return view


def set_cabinet(context: CloudContext, user: User, code: str, values: dict[str, Any]) -> CabinetSettingsView:
    """Replace the cabinet's overrides (a field left out: the store's or the fleet's)."""
    require_role(user, "ops")
    with transaction(context.factory) as db:
        found = cabinet_by_code(db, code)
        require_store(user, found.store_id)
        _republish(context, db, cabinet_settings.set_overrides(db, user, values, cabinet=found))
        view = _cabinet_view(db, found)
    context.outbox_committed()
    return view


def _republish(context: CloudContext, db: Db, cabinets: list[Cabinet]) -> None:
    for changed in cabinets:
        publish_config(db, changed, context.signer)

"""Per-cabinet settings: the fleet defaults, and overrides per store and per cabinet (ops of the store)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, BackgroundTasks
from pydantic import BaseModel, ConfigDict, Field, create_model
from sqlalchemy import select

from cloud import NotFound
from cloud.api.deps import ContextDep, CurrentUser, SessionDep, in_store
from cloud.api.errors import documented
from cloud.api.types import CabinetCode, RowId
from cloud.config_push import publish_configs, signed_config
from cloud.context import CloudContext
from cloud.db.models import Cabinet, Store
from cloud.domain import cabinet_settings
from cloud.domain.auth import require_role, require_store
from cloud.domain.fleet import cabinet_by_code
from protocols.mqtt.schemas import CabinetSettings

router = APIRouter(prefix="/api/v1", tags=["settings"])


def _partial(model: type[BaseModel]) -> type[BaseModel]:
    """The model with every field optional (None: inherit), each keeping its bounds."""
    fields: dict[str, Any] = {
        name: (Annotated[(info.annotation, *info.metadata)] | None, Field(None))
        for name, info in model.model_fields.items()
    }
    config = ConfigDict(extra="forbid", allow_inf_nan=False)
    return create_model(f"{model.__name__}Overrides", __config__=config, **fields)


if TYPE_CHECKING:
    Overrides = BaseModel
else:
    Overrides = _partial(CabinetSettings)


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


def _cabinet_view(db: SessionDep, cabinet: Cabinet) -> CabinetSettingsView:
    return CabinetSettingsView(
        code=cabinet.code,
        store_id=cabinet.store_id,
        config_version=max(1, cabinet.config_version),
        overrides=cabinet_settings.overrides(cabinet),
        effective=cabinet_settings.effective_settings(db, cabinet),
    )


def _republish(
    context: CloudContext, db: SessionDep, cabinets: list[Cabinet], after_commit: BackgroundTasks
) -> None:
    """The cabinets whose settings changed get their new config once the change is committed."""
    if cabinets:
        after_commit.add_task(publish_configs, context, [signed_config(context, db, c) for c in cabinets])


@router.get("/settings", responses=documented(401, 403))
def fleet_settings(db: SessionDep, user: CurrentUser) -> FleetSettingsView:
    """The fleet defaults, and the overrides and resulting settings of the caller's stores and cabinets."""
    require_role(user, "ops")
    stores = [s for s in db.scalars(select(Store).order_by(Store.code)) if in_store(user, s.id)]
    cabinets = [c for c in db.scalars(select(Cabinet).order_by(Cabinet.code)) if in_store(user, c.store_id)]
    return FleetSettingsView(
        defaults=cabinet_settings.fleet_defaults(db),
        stores=[_store_view(s) for s in stores],
        cabinets=[_cabinet_view(db, c) for c in cabinets],
    )


@router.put("/stores/{store_id}/settings", responses=documented(401, 403, 404, 409, 422))
def set_store_settings(
    store_id: RowId,
    body: Overrides,
    db: SessionDep,
    context: ContextDep,
    user: CurrentUser,
    after_commit: BackgroundTasks,
) -> StoreSettings:
    """Replace the store's overrides (a field left out or null: the fleet default)."""
    require_role(user, "ops")
    store = db.get(Store, store_id)
    if store is None:
        raise NotFound(f"no store {store_id}", code="no_store", store_id=store_id)
    require_store(user, store.id)
    changed = cabinet_settings.set_overrides(db, user, body.model_dump(exclude_none=True), store=store)
    _republish(context, db, changed, after_commit)
    return _store_view(store)


@router.get("/cabinets/{code}/settings", responses=documented(401, 403, 404, 422))
def get_cabinet_settings(code: CabinetCode, db: SessionDep, user: CurrentUser) -> CabinetSettingsView:
    require_role(user, "ops")
    cabinet = cabinet_by_code(db, code)
    require_store(user, cabinet.store_id)
    return _cabinet_view(db, cabinet)


@router.put("/cabinets/{code}/settings", responses=documented(401, 403, 404, 409, 422))
def set_cabinet_settings(
    code: CabinetCode,
    body: Overrides,
    db: SessionDep,
    context: ContextDep,
    user: CurrentUser,
    after_commit: BackgroundTasks,
) -> CabinetSettingsView:
    """Replace the cabinet's overrides (a field left out or null: the store's or the fleet's)."""
    require_role(user, "ops")
    cabinet = cabinet_by_code(db, code)
    require_store(user, cabinet.store_id)
    changed = cabinet_settings.set_overrides(db, user, body.model_dump(exclude_none=True), cabinet=cabinet)
    _republish(context, db, changed, after_commit)
    return _cabinet_view(db, cabinet)

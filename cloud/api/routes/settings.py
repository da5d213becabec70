"""Per-cabinet settings: the fleet defaults, and overrides per store and per cabinet (ops of the store)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, create_model

from cloud.api.deps import ContextDep, DetachedUser
from cloud.api.errors import documented
from cloud.api.types import CabinetCode, RowId
from cloud.usecases import settings
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


@router.get("/settings", responses=documented(401, 403))
def fleet_settings(context: ContextDep, user: DetachedUser) -> settings.FleetSettingsView:
    """The fleet defaults, and the overrides and resulting settings of the caller's stores and cabinets."""
    return settings.fleet(context, user)


@router.put("/stores/{store_id}/settings", responses=documented(401, 403, 404, 409, 422))
def set_store_settings(
    store_id: RowId, body: Overrides, context: ContextDep, user: DetachedUser
) -> settings.StoreSettings:
    """Replace the store's overrides (a field left out or null: the fleet default)."""
    return settings.set_store(context, user, store_id, body.model_dump(exclude_none=True))


@router.get("/cabinets/{code}/settings", responses=documented(401, 403, 404, 422))
def get_cabinet_settings(
    code: CabinetCode, context: ContextDep, user: DetachedUser
) -> settings.CabinetSettingsView:
    return settings.cabinet(context, user, code)


@router.put("/cabinets/{code}/settings", responses=documented(401, 403, 404, 409, 422))
def set_cabinet_settings(
    code: CabinetCode, body: Overrides, context: ContextDep, user: DetachedUser
) -> settings.CabinetSettingsView:
    """Replace the cabinet's overrides (a field left out or null: the store's or the fleet's)."""
    return settings.set_cabinet(context, user, code, body.model_dump(exclude_none=True))

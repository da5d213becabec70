"""Cabinet layouts and the product catalog they refer to, and the planogram they imply."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from protocols.planogram import Channel, Lane, Planogram

LAYOUT_DIR = Path(__file__).parent / "layouts"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Product(_Model):
    sku: str
    name_zh: str
    name_en: str
    price_fen: int = Field(ge=0)
    unit_weight_g: float = Field(gt=0)
    tolerance_g: float = Field(ge=0)
    chilled: bool
    shelf_life_days: int = Field(gt=0)


class BoardSpec(_Model):
    type: Literal["lock", "scale", "climate"]
    addr: int = Field(ge=0, le=255)
    serial_number: str
    firmware: tuple[int, int, int]
    count: int = Field(ge=0)  # doors, channels or probes


class LaneSpec(_Model):
    lane: int = Field(ge=0)
    sku: str
    capacity: int = Field(ge=0)
    count: int = Field(ge=0)  # pieces loaded when the simulator starts


class ChannelSpec(_Model):
    channel: int = Field(ge=0)
    door: int = Field(ge=0)
    tray_g: float = Field(ge=0)
    lanes: tuple[LaneSpec, ...]


class Layout(_Model):
    name: str
    description: str
    setpoint_c: float | None  # None: no compressor
    ambient_c: float
    boards: tuple[BoardSpec, ...]
    channels: tuple[ChannelSpec, ...]

    def boards_of(self, kind: str) -> list[BoardSpec]:
        return sorted((b for b in self.boards if b.type == kind), key=lambda b: b.addr)

    @property
    def doors(self) -> int:
        return sum(b.count for b in self.boards_of("lock"))


@cache
def catalog() -> dict[str, Product]:
    products = TypeAdapter(list[Product]).validate_json((LAYOUT_DIR / "catalog.json").read_bytes())
    return {p.sku: p for p in products}


def layout_names() -> list[str]:
    return sorted(p.stem for p in LAYOUT_DIR.glob("*.json") if p.stem != "catalog")


def load_layout(name_or_file: str) -> Layout:
    """A shipped layout by name, or a layout JSON file."""
    path = Path(name_or_file)
    if not path.suffix:
        path = LAYOUT_DIR / f"{name_or_file}.json"
    if not path.exists():
        raise FileNotFoundError(f"no layout {name_or_file!r}; shipped: {', '.join(layout_names())}")
    layout = Layout.model_validate_json(path.read_bytes())
    unknown = {lane.sku for c in layout.channels for lane in c.lanes} - set(catalog())
    if unknown:
        raise ValueError(f"layout {layout.name}: SKUs not in the catalog: {sorted(unknown)}")
    return layout


def planogram_of(layout: Layout) -> Planogram:
    """The planogram the cloud would hold for a cabinet of this layout."""
    products = catalog()
    return Planogram(
        channels=tuple(
            Channel(
                channel=c.channel,
                door=c.door,
                lanes=tuple(_lane(lane, products[lane.sku]) for lane in c.lanes),
            )
            for c in layout.channels
        )
    )


def _lane(spec: LaneSpec, product: Product) -> Lane:
    return Lane(
        lane=spec.lane,
        sku=spec.sku,
        unit_weight_g=product.unit_weight_g,
        tolerance_g=product.tolerance_g,
        capacity=spec.capacity,
        price_fen=product.price_fen,
        chilled=product.chilled,
    )

"""The asset form: its fields (the Elexon column names the node's API takes), turning a
submitted form into the JSON body, and placing each SHACL violation at its field."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FormField:
    name: str  # Elexon column name (JSON, CSV)
    label: str
    kind: str = "text"  # text | number | date | bool
    hint: str = ""


ASSET_FIELDS: tuple[FormField, ...] = (
    FormField("AssetName", "Asset name"),
    FormField("AssetCategory", "Asset category", hint="A category code, e.g. BESS, EV_CHARGER"),
    FormField("RatedCapacity", "Rated capacity (kW)", "number"),
    FormField("InstalledCapacity", "Installed capacity (kW)", "number"),
    FormField("GenCapacity", "Generation capacity (kW)", "number"),
    FormField("DemandCapacity", "Demand capacity (kW)", "number"),
    FormField("StorageCapacity", "Storage capacity (kWh)", "number"),
    FormField("EffectiveDate", "Effective date", "date"),
    FormField("CommissioningDate", "Commissioning date", "date"),
    FormField("ConnectionStatus", "Connection status", hint="e.g. CONNECTED"),
    FormField("ConnectionType", "Connection type", hint="FIRM or NON_FIRM"),
    FormField("DNOConnection", "DNO licence area", hint="e.g. UKPN_EPN, SSEN_SEPD"),
    FormField("GSPGroup", "GSP group", hint="e.g. _H"),
    FormField("ImportMPAN", "Import MPAN", hint="13 digits"),
    FormField("ExportMPAN", "Export MPAN", hint="13 digits"),
    FormField("FuelType_EnergySource", "Energy source", hint="e.g. GRID, SOLAR"),
    FormField("Manufacturer", "Manufacturer"),
    FormField("AssetModel", "Model"),
    FormField("SerialNumber", "Serial number"),
    FormField("Postcode", "Postcode"),
    FormField("CanImport", "Can import", "bool"),
    FormField("CanExport", "Can export", "bool"),
)
FIELD_NAMES = {f.name for f in ASSET_FIELDS}
BOOL_CHOICES = (("", "Not stated"), ("true", "Yes"), ("false", "No"))


def body_of(form: dict[str, str], *, keep_empty: bool = False) -> dict[str, Any]:
    """The JSON body of a submitted asset form. Numbers that parse are sent as numbers and
    yes/no as booleans; anything else is sent as typed, for the node to judge. Empty
    fields are left out (or sent as null with `keep_empty`, a merge patch's removal)."""
    body: dict[str, Any] = {}
    for f in ASSET_FIELDS:
        raw = (form.get(f.name) or "").strip()
        if not raw:
            if keep_empty:
                body[f.name] = None
            continue
        if f.kind == "number":
            try:
                body[f.name] = int(raw) if raw.lstrip("-").isdigit() else float(raw)
            except ValueError:
                body[f.name] = raw
        elif f.kind == "bool":
            body[f.name] = raw == "true" if raw in ("true", "false") else raw
        else:
            body[f.name] = raw
    return body


def values_of(record: dict[str, Any]) -> dict[str, str]:
    """A record's fields as the form shows them."""
    out: dict[str, str] = {}
    for f in ASSET_FIELDS:
        value = record.get(f.name)
        if value is None:
            continue
        out[f.name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out


def field_of(path: str) -> str | None:
    """The form field a violation's `path` names: an Elexon field name, or the IRI of its
    property (fmar:ratedCapacity -> RatedCapacity), else None (shown above the form)."""
    if path in FIELD_NAMES:
        return path
    tail = path.rsplit("#", 1)[-1].rsplit("/", 1)[-1]
    for name in FIELD_NAMES:
        if name.lower() == tail.lower() or name.replace("_", "").lower() == tail.lower():
            return name
    return None


def place(violations: list[dict[str, Any]]) -> tuple[dict[str, list[dict[str, Any]]],
                                                     list[dict[str, Any]]]:
    """Violations by form field, and those that name no field of the form."""
    by_field: dict[str, list[dict[str, Any]]] = {}
    other = []
    for v in violations:
        name = field_of(str(v.get("path") or v.get("field") or ""))
        if name:
            by_field.setdefault(name, []).append(v)
        else:
            other.append(v)
    return by_field, other

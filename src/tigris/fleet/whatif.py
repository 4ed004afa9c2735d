"""What-if questions: the plan again with a changed supply menu, and what it changes.

    --replace h100-sxm=tigris-1   the menu's h100-sxm entry becomes tigris-1 (same
                                  availability and rack size; priced as an entry without
                                  a price: the reported price, else the cost model's)
    --add my-chip.yaml            a chip (id or YAML file) added to the menu, unlimited

The baseline's candidates are reused: only the new systems are evaluated.
"""

from __future__ import annotations

from collections.abc import Sequence

from tigris.errors import InfeasibleError, SpecError, given
from tigris.fleet.demand import Demand, SupplySystem, chip_name


def apply_changes(demand: Demand, replace: Sequence[str] = (), add: Sequence[str] = ()) -> Demand:
    """`demand` with its supply menu changed (SpecError naming --replace / --add)."""
    from tigris.api.inputs import resolve_chip

    replaced = []
    for change in replace:
        old, sep, new = change.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise SpecError(f"expected OLD=NEW, got {given(change)}", key_path="--replace",
                            hint="e.g. --replace h100-sxm=tigris-1")  # fmt: skip
        _load(resolve_chip, new.strip(), "--replace")
        replaced.append((old.strip(), SupplySystem(chip=new.strip())))
    for chip in add:
        _load(resolve_chip, chip, "--add")
    added = [SupplySystem(chip=chip) for chip in add]
    return change_menu(demand, replaced, added, option="--replace" if replace else "--add")


def change_menu(
    demand: Demand, replaced: Sequence[tuple[str, SupplySystem]] = (),
    added: Sequence[SupplySystem] = (), *, option: str = "--replace",
) -> Demand:  # fmt: skip
    """`demand` with menu entries replaced (each (old name, new system): the new one keeps
    the old one's availability and rack size unless it gives its own, and is priced by
    the cost model unless it gives a price) and systems added; SpecError naming `option`
    for a name not on the menu or a menu naming a system twice."""
    supply = list(demand.supply)
    for old, new in replaced:
        index = find_system(supply, old, option)
        supply[index] = new.model_copy(update={
            "max_chips": new.max_chips or supply[index].max_chips,
            "chips_per_rack": new.chips_per_rack or supply[index].chips_per_rack,
        })  # fmt: skip
    supply += added
    labels = [s.label for s in supply]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise SpecError(f"{given(repeated[0])} would be on the menu twice", key_path=option)
    return demand.model_copy(update={"supply": supply})


def find_system(supply: Sequence[SupplySystem], name: str, option: str = "--replace") -> int:
    """The index of the menu entry named `name` (its label, chip id or file); SpecError
    naming `option` and the menu otherwise."""
    for index, system in enumerate(supply):
        if name in (system.label, system.chip, chip_name(system.chip)):
            return index
    menu = ", ".join(s.label for s in supply)
    raise SpecError(f"{given(name)} is not on the supply menu", key_path=option,
                    hint=f"the menu: {menu[:200]}")  # fmt: skip


def _load(resolve, chip: str, option: str) -> None:  # type: ignore[no-untyped-def]
    try:
        resolve(chip)
    except SpecError as error:
        if error.file:
            raise
        raise SpecError(error.message, key_path=option, hint=error.hint) from None


def what_if(
    demand: Demand, baseline_dict: dict[str, object], candidates: dict, *,
    replace: Sequence[str] = (), add: Sequence[str] = (), workers: int = 1, ray: bool = False,
    progress=None,  # type: ignore[no-untyped-def]
) -> dict[str, object]:  # fmt: skip
    """The changed menu's plan and its deltas against the baseline (a plan that cannot be
    made with the changed menu is reported as such, not raised)."""
    from tigris.fleet.plan import plan_fleet

    changed = apply_changes(demand, replace, add)
    changes = [f"replace {c}" for c in replace] + [f"add {c}" for c in add]
    try:
        plan, _ = plan_fleet(changed, workers=workers, ray=ray, progress=progress,
                             known=candidates)  # fmt: skip
    except InfeasibleError as error:
        return {"changes": changes, "infeasible": error.reason}
    variant = plan.to_dict()
    base, new = baseline_dict["total"], variant["total"]
    return {
        "changes": changes,
        "tco_delta_usd_per_year": new["tco_usd_per_year"] - base["tco_usd_per_year"],  # type: ignore[index]
        "tco_delta_fraction": new["tco_usd_per_year"] / base["tco_usd_per_year"] - 1.0,  # type: ignore[index]
        "capex_delta_usd": new["capex_usd"] - base["capex_usd"],  # type: ignore[index]
        "peak_wall_mw_delta": new["peak_wall_mw"] - base["peak_wall_mw"],  # type: ignore[index]
        "plan": variant,
    }

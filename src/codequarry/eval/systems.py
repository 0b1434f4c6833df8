"""What is being compared: a system is (mode, model, slot, fusion weights).

`expand_systems` turns the repeatable CLI options into the list, first system
first (every delta in a report is against it). The lexical leg does not
depend on the model or the slot, so it appears once however many are given.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from codequarry.errors import UserInputError
from codequarry.search.fusion import DEFAULT_WEIGHTS, FusionWeights

MODES = ("lexical", "dense", "hybrid")
DEFAULT_MODES = MODES


@dataclass(frozen=True)
class System:
    mode: str
    model: str | None = None  # None: the default model (QUARRY_MODEL or the 'minilm' preset)
    slot: str | None = None
    # None means "the shipped defaults"; hybrid only. fusion="rrf" ranks by reciprocal rank fusion instead.
    weights: FusionWeights | None = None
    fusion: str = "convex"
    label: str = field(default="", compare=False)

    @property
    def needs_model(self) -> bool:
        return self.mode in ("dense", "hybrid")

    @property
    def effective_weights(self) -> FusionWeights | None:
        """What hybrid ranking gets: None means RRF."""
        if self.fusion == "rrf":
            return None
        return self.weights or DEFAULT_WEIGHTS

    def model_name(self) -> str:
        from codequarry.embed.presets import resolve_model

        return resolve_model(self.model).name

    def config(self) -> dict:
        out: dict = {"mode": self.mode, "label": self.label}
        if self.needs_model:
            out["model"] = self.model_name()
        if self.slot:
            out["slot"] = self.slot
        if self.mode == "hybrid":
            w = self.effective_weights
            out["fusion"] = "rrf" if w is None else {
                "method": "convex", "lexical_words": w.lexical_words, "lexical_words_flat": w.lexical_words_flat,
                "lexical_identifier": w.lexical_identifier, "exact_name_boost": w.exact_name_boost,
            }
        return out


def short_model(name: str) -> str:
    if "/" not in name and "\\" not in name:
        return name
    path = Path(name)
    # A training run's output folders are all called adapter/ or model/: the run's name tells them apart.
    return f"{path.parent.name}/{path.name}" if path.name in ("adapter", "model") else path.name


def expand_systems(
    modes: tuple[str, ...] | list[str] = (),
    models: tuple[str, ...] | list[str] = (),
    slots: tuple[str, ...] | list[str] = (),
) -> list[System]:
    modes = list(dict.fromkeys(modes or DEFAULT_MODES))
    for m in modes:
        if m not in MODES:
            raise UserInputError(f"unknown mode '{m}' (choose from {', '.join(MODES)})")
    model_list: list[str | None] = list(dict.fromkeys(models)) or [None]
    slot_list: list[str | None] = list(dict.fromkeys(slots)) or [None]
    systems: list[System] = []
    for mode in modes:
        if mode == "lexical":
            systems.append(System("lexical", model_list[0], slot_list[0]))
            continue
        for model in model_list:
            for slot in slot_list:
                systems.append(System(mode, model, slot))
    return label_systems(systems)


def label_systems(systems: list[System]) -> list[System]:
    """Short unique labels: the mode, plus the model/slot only where those vary."""
    dense = [s for s in systems if s.needs_model]
    many_models = len({s.model_name() for s in dense}) > 1
    many_slots = len({s.slot for s in dense}) > 1
    out: list[System] = []
    seen: dict[str, int] = {}
    for s in systems:
        if s.label:
            label = s.label
        else:
            parts = [s.mode if s.fusion != "rrf" else "rrf"]
            if s.needs_model and many_models:
                parts.append(short_model(s.model_name()))
            if s.needs_model and many_slots and s.slot:
                parts.append(f"slot={s.slot}")
            label = "-".join(parts)
        n = seen.get(label, 0)
        seen[label] = n + 1
        out.append(replace(s, label=label if n == 0 else f"{label}#{n + 1}"))
    return out

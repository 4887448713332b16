"""Reading a search config and checking its space against the registries.

A search config is a run config with a ``search:`` section. Every part a trial may choose is
checked before anything runs: its name against its registry (with "did you mean"), and its
options at each edge of their ranges (and at each listed choice) against the part's own
``Config``. So a trial never fails on a name or an option the config got wrong.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from biozoo._yaml import read_yaml
from biozoo.config import FitOptions, HeadConfig, RunConfig, parse_config, resolve_paths
from biozoo.data.spec import describe_error
from biozoo.data.splits import LabelSplitKind
from biozoo.errors import BiozooError
from biozoo.search.space import PartChoice, SearchConfig, Searched
from biozoo.search.study import PRUNERS

__all__ = ["check_search", "load_search", "parse_search"]


def load_search(path: str | Path) -> tuple[RunConfig, SearchConfig]:
    """Read a search config (YAML): the run config and its ``search`` section.

    Relative data paths are resolved against the file's folder.

    Raises:
        BiozooError: the file is not a valid run config, has no ``search`` section, or the
            section names an unknown part, an unknown option or an empty range.
    """
    path = Path(path)
    raw = read_yaml(path, "config file")
    cfg, search = parse_search(raw, source=str(path))
    return resolve_paths(cfg, path.parent), search


def parse_search(raw: Any, *, source: str = "config") -> tuple[RunConfig, SearchConfig]:
    """Validate a mapping with a ``search`` section (see :func:`load_search`)."""
    if not isinstance(raw, dict) or "search" not in raw:
        raise BiozooError(f"{source} has no 'search' section: there is nothing to search.")
    raw = dict(raw)
    section = raw.pop("search")
    cfg = parse_config(raw, source=source)
    try:
        search = SearchConfig.model_validate(section)
    except ValidationError as err:
        first = err.errors()[0]
        loc, msg = describe_error({**first, "loc": _without_tags(first["loc"])})
        loc = re.sub(r"\.(\d+)(?=\.|$)", r"[\1]", loc)  # list positions as [i]
        raise BiozooError(_sentence(f"{source}: search.{loc}: {msg}")) from None
    try:
        check_search(cfg, search)
    except ValueError as err:
        raise BiozooError(_sentence(f"{source}: {err}")) from None
    return cfg, search


_TAGS = ("int", "float", "layers", "fixed")  # the kinds of a searched value (space.Param)


def _without_tags(loc: tuple) -> tuple:
    """An error's location without the union tags pydantic puts in it (``lr.float``)."""
    out: list = []
    for part in loc:
        if part in _TAGS or (part == "choices" and out and out[-1] == "choices"):
            continue
        out.append(part)
    return tuple(out)


def _sentence(text: str) -> str:
    return text if text.endswith((".", "?", "!")) else f"{text}."


def check_search(cfg: RunConfig, search: SearchConfig) -> None:
    """Check the names and option ranges of ``search`` against the registries and ``cfg``.

    Raises:
        ValueError: one sentence naming the ``search.`` key at fault.
    """
    from biozoo.encoders import ENCODERS
    from biozoo.fusion import FUSIONS
    from biozoo.train.optim import OPTIMIZERS

    if search.pruner not in PRUNERS:
        raise ValueError(PRUNERS.unknown_message(search.pruner, where="search.pruner"))
    if not isinstance(search.inner.splitter(), LabelSplitKind):
        raise ValueError(
            f"search.inner.kind {search.inner.kind!r} needs more than the samples' labels; "
            "use kfold or holdout"
        )
    space = search.space
    for mod, choices in space.encoders.items():
        if mod not in cfg.data.modalities:
            raise ValueError(
                f"search.space.encoders.{mod} names no modality of data.modalities "
                f"({', '.join(cfg.data.modalities)})"
            )
        _check_parts(ENCODERS, choices, f"search.space.encoders.{mod}")
    if space.default_encoder is not None:
        _check_parts(ENCODERS, space.default_encoder, "search.space.default_encoder")
    if space.fusion is not None:
        _check_parts(FUSIONS, space.fusion, "search.space.fusion")
    _check_fields(HeadConfig, {}, space.head, "search.space.head")
    base = cfg.training.model_dump(include=set(FitOptions.model_fields))
    _check_fields(FitOptions, base, space.training, "search.space.training")
    optimizer = space.training.get("optimizer", cfg.training.optimizer)
    names = optimizer.extremes() if isinstance(optimizer, Searched) else [optimizer]
    for name in names:
        if name not in OPTIMIZERS:
            raise ValueError(
                OPTIMIZERS.unknown_message(str(name), where="search.space.training.optimizer")
            )


def _check_parts(registry: Any, choices: list[PartChoice], where: str) -> None:
    for i, choice in enumerate(choices):
        loc = f"{where}[{i}]"
        if choice.name not in registry:
            raise ValueError(registry.unknown_message(choice.name, where=f"{loc}.name"))
        config = registry.get(choice.name).Config
        _check_fields(config, {}, choice.options, loc)


def _check_fields(
    config: type[BaseModel], base: dict[str, Any], params: dict[str, Any], where: str
) -> None:
    """Validate ``config`` with every searched value at each of its extremes in turn (the
    others at their first)."""
    first = {k: p.extremes()[0] if isinstance(p, Searched) else p for k, p in params.items()}
    for key, p in params.items():
        for value in p.extremes() if isinstance(p, Searched) else [p]:
            try:
                config.model_validate({**base, **first, key: value})
            except ValidationError as err:
                loc, msg = describe_error(err.errors()[0])
                raise ValueError(f"{where}.{loc}: {msg} (when {key} is {value!r})") from None

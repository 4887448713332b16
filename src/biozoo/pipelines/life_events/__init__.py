"""Life-event histories: a Delphi-2M-style generative model and its evaluation protocol.

- :mod:`.model`: a causal event encoder plus a log-rate head, trained on the
  competing-exponential likelihood of each patient's own history;
- :mod:`.sampling`: future trajectories from any age;
- :mod:`.baseline`: age-and-sex incidence rates from training patients;
- :mod:`.metrics`: per-code next-event ROC AUC by age band and sex, waiting-time calibration;
- :mod:`.protocol`: the config and :func:`run_life_events`.
"""

from biozoo.pipelines.life_events.baseline import AgeSexIncidence
from biozoo.pipelines.life_events.model import (
    NO_EVENT,
    EventHistoryModel,
    fit_event_model,
    transitions,
    with_no_events,
)
from biozoo.pipelines.life_events.protocol import (
    LifeEventsConfig,
    LifeEventsResult,
    load_life_events_config,
    run_life_events,
)
from biozoo.pipelines.life_events.sampling import rates_after, sample_trajectories

__all__ = [
    "NO_EVENT",
    "AgeSexIncidence",
    "EventHistoryModel",
    "LifeEventsConfig",
    "LifeEventsResult",
    "fit_event_model",
    "load_life_events_config",
    "rates_after",
    "run_life_events",
    "sample_trajectories",
    "transitions",
    "with_no_events",
]

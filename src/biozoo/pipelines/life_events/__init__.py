"""Life-event histories: a Delphi-2M-style generative model and its evaluation protocol.

- :mod:`.model`: a causal event encoder plus a log-rate head, trained on the
  competing-exponential likelihood of each patient's own history;
- :mod:`.sampling`: future trajectories from any age;
- :mod:`.baseline`: age-and-sex incidence rates from training patients;
- :mod:`.next_code`: a per-code logistic regression of the next code on counts of earlier
  codes, age and covariates;
- :mod:`.aalen_johansen`: cumulative incidence of each code by age (Aalen–Johansen, terminal
  codes competing);
- :mod:`.metrics`: per-code next-event ROC AUC by age band and sex, waiting-time calibration;
- :mod:`.protocol`: the config and :func:`run_life_events`;
- :mod:`.runfolder`: :func:`write_life_events_run`, the run folder of a life-event run.
"""

from biozoo.pipelines.life_events.aalen_johansen import (
    AalenJohansenIncidence,
    cumulative_incidence,
    incidence_table,
)
from biozoo.pipelines.life_events.baseline import AgeSexIncidence
from biozoo.pipelines.life_events.model import (
    NO_EVENT,
    EventHistoryModel,
    fit_event_model,
    transitions,
    with_no_events,
)
from biozoo.pipelines.life_events.next_code import NextCodeLogistic, transition_features
from biozoo.pipelines.life_events.protocol import (
    LifeEventsConfig,
    LifeEventsResult,
    load_life_events_config,
    run_life_events,
)
from biozoo.pipelines.life_events.runfolder import load_life_events_model, write_life_events_run
from biozoo.pipelines.life_events.sampling import rates_after, sample_trajectories

__all__ = [
    "NO_EVENT",
    "AalenJohansenIncidence",
    "AgeSexIncidence",
    "EventHistoryModel",
    "LifeEventsConfig",
    "LifeEventsResult",
    "NextCodeLogistic",
    "cumulative_incidence",
    "fit_event_model",
    "incidence_table",
    "load_life_events_config",
    "load_life_events_model",
    "rates_after",
    "run_life_events",
    "sample_trajectories",
    "transition_features",
    "transitions",
    "with_no_events",
    "write_life_events_run",
]

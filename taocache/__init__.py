"""TaoCache in plain torch: the method, independent of ComfyUI (so it can be tested alone).

Data flows one way: config -> schedule -> history -> predictor -> policy -> report.
"""
__version__ = "0.1.0"

from .config import PREDICTORS, ConfigError, TaoCacheConfig
from .policy import Decision, TaoCacheRun
from .profile import CalibrationRecorder, Profile, ProfileError
from .report import RunReport
from .schedule import Schedule

__all__ = ["CalibrationRecorder", "Profile", "ProfileError", "PREDICTORS", "ConfigError", "TaoCacheConfig", "Decision", "TaoCacheRun", "RunReport", "Schedule"]

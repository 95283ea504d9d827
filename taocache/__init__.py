"""TaoCache in plain torch: the method, independent of ComfyUI (so it can be tested alone).

Data flows one way: config -> schedule -> history -> predictor -> policy -> report.
"""
from .config import PREDICTORS, ConfigError, TaoCacheConfig
from .policy import Decision, TaoCacheRun
from .report import RunReport
from .schedule import Schedule

__all__ = ["PREDICTORS", "ConfigError", "TaoCacheConfig", "Decision", "TaoCacheRun", "RunReport", "Schedule"]

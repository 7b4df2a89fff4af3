"""The import engine: `build_plan(profile) -> Plan`, then `run(plan, on_event, cancel) -> RunResult`."""

from core.engine.plan import FolderPlan, Plan, SourcePlan, build_plan
from core.engine.run import RunResult, run

__all__ = ["FolderPlan", "Plan", "RunResult", "SourcePlan", "build_plan", "run"]

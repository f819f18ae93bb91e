"""The survey: an anonymized, geotagged photo (and its record) every 4 m of road.

``engine.run_survey`` is the one loop (CLI and agent, replay and live); ``feeds`` says where
frames and marks come from, ``pipeline`` what happens to one photo, ``writer`` the folder
output. The names below are the library's entry points.
"""

from voirie.edge.survey.engine import SurveyHooks, run_survey, survey_live, survey_video
from voirie.edge.survey.pipeline import SurveyConfig, SurveyResult, SurveyStats

__all__ = ["SurveyConfig", "SurveyHooks", "SurveyResult", "SurveyStats", "run_survey", "survey_live", "survey_video"]

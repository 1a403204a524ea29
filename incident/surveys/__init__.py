"""The committee's satisfaction survey: its definition (data), campaigns and their public
form's answers, the «оцените ответ» link of replies, results and follow-up tasks."""

from incident.surveys.answers import Checked, check_form, form_values
from incident.surveys.definition import (
    Definition,
    DefinitionError,
    Question,
    load_definition,
)
from incident.surveys.store import (
    Campaign,
    SurveyError,
    Task,
    add_response,
    add_task,
    campaign_by_id,
    campaign_by_slug,
    campaigns,
    close_campaign,
    close_task,
    create_campaign,
    create_rating_link,
    public_url,
    rate,
    rating_link,
    tasks,
)

__all__ = [
    "Campaign",
    "Checked",
    "Definition",
    "DefinitionError",
    "Question",
    "SurveyError",
    "Task",
    "add_response",
    "add_task",
    "campaign_by_id",
    "campaign_by_slug",
    "campaigns",
    "check_form",
    "close_campaign",
    "close_task",
    "create_campaign",
    "create_rating_link",
    "form_values",
    "load_definition",
    "public_url",
    "rate",
    "rating_link",
    "tasks",
]

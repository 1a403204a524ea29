"""The inbox: the only writer of incidents (and of comments, cursors, the outbox, source state
and the audit log).

Every function takes an open connection inside a transaction (``engine.begin()``) and ``now``;
the caller decides the transaction's extent. Callers use the package, not its modules::

    from incident import inbox
    inbox.ingest(conn, source, batch, now, deadline=policy)

Where things are: ``ingest`` and ``new_comments`` (comments in, incidents opened, answers and
edits), ``contracts`` (the policies ingest is handed, its result), ``outbox`` (replies queued,
claimed, posted, failed, retried), ``claims`` and ``actions`` (what staff do to an incident),
``drafts`` (typed replies kept on the server, who has a card open, saved queue views),
``deadlines`` (the SLA step's marks), ``backfill`` (answer figures of old rows), ``sources``
(cursors, source status, leases), ``workers`` (heartbeats), ``audit``, ``reads`` (for the
CLI), ``reclassify``.
"""

from incident.inbox.actions import (
    MAX_NOTE,
    add_note,
    assign,
    change_topic,
    close_no_answer,
    confirm_topic,
    reopen,
    retry_reply,
)
from incident.inbox.audit import audit
from incident.inbox.backfill import backfill_reply_kinds, backfill_response_figures
from incident.inbox.claims import CLAIM_FOR, Claim, claim, claimed_by_other, release
from incident.inbox.contracts import (
    Classification,
    Classifier,
    DeadlinePolicy,
    DueTimes,
    IngestResult,
    ResponseFigures,
    calendar_hours,
    no_classification,
    no_figures,
)
from incident.inbox.deadlines import (
    MarkStage,
    claim_deadline_marks,
    release_deadline_marks,
    store_warn_times,
)
from incident.inbox.drafts import (
    MAX_DRAFT,
    VIEWER_FRESH,
    Draft,
    Viewer,
    delete_filter,
    draft_of,
    drop_draft,
    forget_old_viewers,
    in_peoples_hands,
    leave_card,
    save_draft,
    save_filter,
    saved_filters,
    see_card,
    viewers,
)
from incident.inbox.errors import ActionRefused, ReplyNotAllowed
from incident.inbox.ingest import ingest, ingest_group
from incident.inbox.outbox import (
    MAX_REPLY,
    ClaimedReply,
    claim_reply,
    expire_reply_claims,
    mark_posted,
    mark_reply_failed,
    queue_reply,
    reply_claim_owners,
    reschedule_reply,
    retry_failed_reply,
    unfilled_markers,
)
from incident.inbox.reads import comments_by_platform, counts, oldest_unattended, open_incidents
from incident.inbox.reclassify import reclassify_open
from incident.inbox.repeats import (
    BATCH as REPEAT_BATCH,
)
from incident.inbox.repeats import (
    MAX_GROUP,
    GroupReply,
    Member,
    claim_mass_alert,
    group_of,
    link_pending_repeats,
    release_mass_alert,
    reply_to_group,
)
from incident.inbox.retention import remove_personal_data
from incident.inbox.sources import (
    lease_owners,
    load_cursors,
    record_source_error,
    record_source_success,
    record_sources_success,
    release_owner,
    release_source,
    save_cursors,
    source_states,
    take_source_lease,
    take_source_leases,
)
from incident.inbox.workers import forget_worker, record_worker_beat, worker_states

__all__ = [
    "CLAIM_FOR",
    "MAX_DRAFT",
    "MAX_GROUP",
    "MAX_NOTE",
    "MAX_REPLY",
    "REPEAT_BATCH",
    "VIEWER_FRESH",
    "ActionRefused",
    "Claim",
    "ClaimedReply",
    "Classification",
    "Classifier",
    "DeadlinePolicy",
    "Draft",
    "DueTimes",
    "GroupReply",
    "IngestResult",
    "MarkStage",
    "Member",
    "ReplyNotAllowed",
    "ResponseFigures",
    "Viewer",
    "add_note",
    "assign",
    "audit",
    "backfill_reply_kinds",
    "backfill_response_figures",
    "calendar_hours",
    "change_topic",
    "claim",
    "claim_deadline_marks",
    "claim_mass_alert",
    "claim_reply",
    "claimed_by_other",
    "close_no_answer",
    "comments_by_platform",
    "confirm_topic",
    "counts",
    "delete_filter",
    "draft_of",
    "drop_draft",
    "expire_reply_claims",
    "forget_old_viewers",
    "forget_worker",
    "group_of",
    "in_peoples_hands",
    "ingest",
    "ingest_group",
    "lease_owners",
    "leave_card",
    "link_pending_repeats",
    "load_cursors",
    "mark_posted",
    "mark_reply_failed",
    "no_classification",
    "no_figures",
    "oldest_unattended",
    "open_incidents",
    "queue_reply",
    "reclassify_open",
    "record_source_error",
    "record_source_success",
    "record_sources_success",
    "record_worker_beat",
    "release",
    "release_deadline_marks",
    "release_mass_alert",
    "release_owner",
    "release_source",
    "remove_personal_data",
    "reopen",
    "reply_claim_owners",
    "reply_to_group",
    "reschedule_reply",
    "retry_failed_reply",
    "retry_reply",
    "save_cursors",
    "save_draft",
    "save_filter",
    "saved_filters",
    "see_card",
    "source_states",
    "store_warn_times",
    "take_source_lease",
    "take_source_leases",
    "unfilled_markers",
    "viewers",
    "worker_states",
]

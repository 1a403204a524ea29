"""Links to ok.ru: a group's post (a "topic"), a comment under it, the group's messages.

The post link ``https://ok.ru/group/<gid>/topic/<topic id>`` is the form ok.ru shows for a
group's post. OK documents no deep link to one comment: ``comment_link`` opens the post with
the comment's id as ``commentId`` (best effort: if ok.ru ignores it, the post still opens and
the comment is found under it). The private link is the group's messages page; its exact form
is unconfirmed offline, so a deployment can set ``private_link`` in its ``[[sources]]`` table.
"""

from __future__ import annotations

from urllib.parse import quote


def post_link(community: str, post_id: str) -> str | None:
    """The group's post; None when the ids are not OK's numbers."""
    if community.isdigit() and post_id.isdigit():
        return f"https://ok.ru/group/{community}/topic/{post_id}"
    return None


def comment_link(community: str, post_id: str, comment: str, root: str | None) -> str | None:
    """The post, pointing at ``comment`` (best effort; ``root`` plays no part on OK)."""
    post = post_link(community, post_id)
    if post is None:
        return None
    return f"{post}?commentId={quote(comment, safe='')}"


def private_chat_link(community: str) -> str:
    """Where citizens write to the group privately (its messages on ok.ru) [unconfirmed]."""
    return f"https://ok.ru/group/{community}/messages"

"""Links to VK: a wall post, a comment in it, and the community's private messages."""

from __future__ import annotations


def post_link(community: str, post_id: str) -> str | None:
    """The post on the community's wall; None when the ids are not VK's numbers."""
    if community.isdigit() and post_id.isdigit():
        return f"https://vk.com/wall-{community}_{post_id}"
    return None


def comment_link(community: str, post_id: str, comment: str, root: str | None) -> str | None:
    """The comment under the post (inside the thread of ``root``, when it is a reply)."""
    post = post_link(community, post_id)
    if post is None:
        return None
    thread = f"&thread={root}" if root else ""
    return f"{post}?reply={comment}{thread}"


def private_chat_link(community: str) -> str:
    """Where citizens write to the community privately (its messages on vk.me)."""
    return f"https://vk.me/club{community}"

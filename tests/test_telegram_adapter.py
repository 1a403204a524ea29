"""The one conversion from Telethon's messages to ours, on real Telethon objects built offline
(a never-connected client, as Telethon's own tests do), and the error translation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from telethon import TelegramClient, errors, events, types

from incident.sources.base import PermanentSourceError, ReplyRejectedError, TransientSourceError
from incident.sources.telegram.gateway import TgMessage
from incident.sources.telegram.telethon_gateway import to_tg_message, translate_error

CHANNEL, GROUP, ALICE = 1500000001, 1600000002, 9001
WHEN = datetime(2025, 3, 3, 9, 30, tzinfo=UTC)


def group_message(msg_id: int, text: str, **fields: object) -> types.Message:
    return types.Message(
        id=msg_id, peer_id=types.PeerChannel(GROUP), date=WHEN, message=text, **fields
    )


def through_event(message: types.Message) -> TgMessage | None:
    """As the live listener sees it: an update built into an ``events.NewMessage`` event."""
    event = events.NewMessage.build(
        types.UpdateNewChannelMessage(message=message, pts=1, pts_count=1)
    )
    event._set_client(TelegramClient(None, 1, "1"))
    return to_tg_message(event.message)


def test_a_comment_under_a_post_replies_to_the_posts_group_copy() -> None:
    message = group_message(
        11,
        "Когда починят дорогу?",
        from_id=types.PeerUser(ALICE),
        reply_to=types.MessageReplyHeader(reply_to_msg_id=10),
    )
    converted = through_event(message)
    assert converted == TgMessage(
        chat_id=GROUP,
        id=11,
        date=WHEN,
        text="Когда починят дорогу?",
        sender_id=ALICE,
        reply_to_msg_id=10,
    )
    assert converted is not None
    assert converted.thread_top == 10
    assert not converted.is_copy_of_post(CHANNEL)


def test_a_reply_in_a_thread_keeps_the_post_copy_as_its_top() -> None:
    message = group_message(
        12,
        "Согласна",
        from_id=types.PeerUser(9002),
        reply_to=types.MessageReplyHeader(reply_to_msg_id=11, reply_to_top_id=10),
    )
    converted = through_event(message)
    assert converted is not None
    assert (converted.reply_to_msg_id, converted.reply_to_top_id, converted.thread_top) == (
        11,
        10,
        10,
    )


def test_an_auto_forwarded_channel_post_is_recognised_as_the_posts_copy() -> None:
    message = group_message(
        10,
        "Пост о ремонте дорог",
        from_id=types.PeerChannel(CHANNEL),
        fwd_from=types.MessageFwdHeader(
            date=WHEN - timedelta(seconds=2),
            from_id=types.PeerChannel(CHANNEL),
            channel_post=77,
            saved_from_peer=types.PeerChannel(CHANNEL),
            saved_from_msg_id=77,
        ),
    )
    converted = through_event(message)
    assert converted is not None
    assert (converted.fwd_channel_id, converted.fwd_post_id) == (CHANNEL, 77)
    assert converted.is_copy_of_post(CHANNEL)
    assert not converted.is_copy_of_post(CHANNEL + 1)


def test_a_post_copy_known_only_by_its_saved_from_fields_is_still_a_copy() -> None:
    message = group_message(
        10,
        "Пост",
        fwd_from=types.MessageFwdHeader(
            date=WHEN, saved_from_peer=types.PeerChannel(CHANNEL), saved_from_msg_id=78
        ),
    )
    converted = to_tg_message(message)
    assert converted is not None
    assert converted.is_copy_of_post(CHANNEL)
    assert converted.fwd_post_id == 78


def test_a_message_sent_as_the_channel_names_the_channel_as_its_sender() -> None:
    message = group_message(
        13,
        "Ответ комитета",
        from_id=types.PeerChannel(CHANNEL),
        post_author="Иван Петров",
        reply_to=types.MessageReplyHeader(reply_to_msg_id=11, reply_to_top_id=10),
    )
    converted = through_event(message)
    assert converted is not None
    assert (converted.sender_id, converted.sender_is_channel) == (CHANNEL, True)
    assert converted.post_author == "Иван Петров"
    assert not converted.is_copy_of_post(CHANNEL)


def test_a_message_without_text_has_empty_text() -> None:
    message = group_message(
        14,
        "",
        from_id=types.PeerUser(ALICE),
        media=types.MessageMediaPhoto(),
        reply_to=types.MessageReplyHeader(reply_to_msg_id=10),
    )
    converted = through_event(message)
    assert converted is not None
    assert converted.text == ""


def test_dates_are_aware_utc_whatever_telethon_hands_over() -> None:
    moscow = datetime(2025, 3, 3, 12, 30, tzinfo=timezone(timedelta(hours=3)))
    naive = datetime(2025, 3, 3, 9, 30)
    for date in (moscow, naive):
        message = types.Message(id=1, peer_id=types.PeerChannel(GROUP), date=date, message="x")
        converted = to_tg_message(message)
        assert converted is not None
        assert converted.date == WHEN
        assert converted.date.utcoffset() == timedelta(0)


def test_service_messages_and_messages_outside_channels_are_not_read() -> None:
    service = types.MessageService(
        id=2,
        peer_id=types.PeerChannel(GROUP),
        date=WHEN,
        action=types.MessageActionChatJoinedByLink(inviter_id=1),
    )
    private = types.Message(id=3, peer_id=types.PeerUser(ALICE), date=WHEN, message="привет")
    assert to_tg_message(service) is None
    assert to_tg_message(private) is None


def test_a_long_flood_wait_is_transient_with_its_seconds() -> None:
    error = translate_error(errors.FloodWaitError(request=None, capture=420))
    assert isinstance(error, TransientSourceError)
    assert error.retry_after == 420


@pytest.mark.parametrize(
    "exc",
    [
        errors.AuthKeyUnregisteredError(request=None),
        errors.SessionRevokedError(request=None),
        errors.UserDeactivatedBanError(request=None),
    ],
)
def test_a_dead_session_is_permanent_and_says_to_log_in_again(exc: Exception) -> None:
    error = translate_error(exc)
    assert isinstance(error, PermanentSourceError)
    assert "incident telegram login" in str(error)


def test_missing_admin_rights_are_permanent() -> None:
    error = translate_error(errors.ChatAdminRequiredError(request=None))
    assert isinstance(error, PermanentSourceError)
    assert "администратором" in str(error)


def test_replying_to_a_deleted_comment_rejects_that_reply_only() -> None:
    error = translate_error(errors.MsgIdInvalidError(request=None), sending=True)
    assert isinstance(error, ReplyRejectedError)


def test_network_and_server_faults_are_transient() -> None:
    assert isinstance(translate_error(ConnectionError("reset")), TransientSourceError)
    assert isinstance(
        translate_error(errors.ServerError(request=None, message="x", code=500)),
        TransientSourceError,
    )

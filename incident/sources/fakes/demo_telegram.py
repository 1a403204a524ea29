"""Seed data for ``incident demo``: the committee's Telegram channel on the in-memory fake.

It is data: the channel's posts, the comments under them in its discussion group (seeded and
live) and one answer the channel gave in Telegram's app. All texts are written for this
project. Dates are spread over the hours before ``now``, squeezed by the same scale as the VK
community's; live messages carry the wall clock's time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime

from incident.sources.fakes.telegram_fake import FakeTelegram

CHANNEL = "committee_news"  # the channel's public username, as the config names it
API_ID = "1234567"  # the demo's app credentials: the in-memory fake never checks them
API_HASH = "0123456789abcdef0123456789abcdef"
CHANNEL_KEY = "channel"  # the author key of the channel's own answers

# author key -> (Telegram user id, name)
CITIZENS: dict[int, tuple[int, str]] = {
    1: (5_100_201, "Артём Соловьёв"),
    2: (5_100_202, "Ксения Лаптева"),
    3: (5_100_203, "Денис Мухин"),
    4: (5_100_204, "Алина Гусева"),
    5: (5_100_205, "Роман Белоусов"),
    6: (5_100_206, "Полина Киселёва"),
    7: (5_100_207, "Егор Тихонов"),
}

# (hours before now, text)
POSTS: list[tuple[float, str]] = [
    (
        28.0,
        "Маркетплейсы: как вернуть товар, который не подошёл.\n\n"
        "Товар, купленный дистанционно, можно вернуть в течение 7 дней после получения, а если "
        "правила возврата не сообщили письменно, то в течение трёх месяцев. Платить за "
        "«невыкуп» или за возврат надлежащего товара вы не обязаны сверх стоимости доставки.",
    ),
    (
        15.0,
        "Абонементы в фитнес-клуб и онлайн-курсы: деньги за неиспользованное время можно "
        "вернуть. Клуб или школа вправе удержать только фактически понесённые расходы. "
        "Пункт договора «деньги не возвращаются» не действует. Пишите в комментариях, если "
        "вам отказали.",
    ),
    (
        5.0,
        "Рейс отменили или перенесли? Авиакомпания обязана вернуть полную стоимость билета, "
        "даже невозвратного, или перевезти вас другим рейсом. При задержке больше двух часов "
        "положены напитки, больше четырёх часов — горячее питание.",
    ),
]


@dataclass(frozen=True)
class _Seed:
    key: str
    post: int  # index in POSTS
    author: int | str  # key in CITIZENS, or CHANNEL_KEY
    minutes: int  # after the post
    text: str
    reply_to: str | None = None


SEEDS: list[_Seed] = [
    _Seed(
        "sneakers",
        0,
        1,
        35,
        "Вернул кроссовки на маркетплейсе, размер не подошёл. Деньги вернули, но удержали "
        "249 ₽ «за обратную логистику». Так можно?",
    ),
    _Seed(
        "sneakers_ans",
        0,
        CHANNEL_KEY,
        90,
        "Артём, добрый день! Удержать можно только расходы на доставку товара к вам, и лишь "
        "если они были указаны при покупке. Плата «за обратную логистику» сверх этого "
        "незаконна: напишите продавцу претензию через поддержку площадки.",
        "sneakers",
    ),
    _Seed(
        "pvz",
        0,
        2,
        150,
        "В пункте выдачи отказались принять возврат платья: говорят, бирку оторвали. Бирка "
        "на месте, я показывала! Что делать?",
    ),
    _Seed(
        "pvz_re",
        0,
        3,
        190,
        "Ксения, снимите видео при сдаче и оформите возврат через приложение, там не смогут "
        "отказать.",
        "pvz",
    ),
    _Seed(
        "gym",
        1,
        4,
        20,
        "Купила годовой абонемент в фитнес-клуб за 36 000, через два месяца переехала. Клуб "
        "готов вернуть только 5 000, остальное «штраф за расторжение». Это законно?",
    ),
    _Seed(
        "course",
        1,
        5,
        70,
        "Онлайн-школа программирования не возвращает деньги за курс, который я даже не начал: "
        "ссылаются на оферту. Прошло 4 дня с оплаты.",
    ),
    _Seed(
        "flight",
        2,
        6,
        25,
        "Рейс в Сочи перенесли на сутки, а мне нужно было именно сегодня. Авиакомпания "
        "предлагает только ваучер. Я хочу деньги!",
    ),
    _Seed(
        "delay",
        2,
        7,
        60,
        "Сидим в аэропорту уже пять часов, никакого питания не дали. Кому жаловаться прямо сейчас?",
    ),
    _Seed("delay_re", 2, 6, 80, "Егор, требуйте у стойки авиакомпании талоны на питание.", "delay"),
]

# What citizens write while the demo runs, one at a time under a random post.
LIVE: list[str] = [
    "Заказал смартфон на маркетплейсе, пришла пустая коробка. Продавец пишет, что отправил "
    "всё. Как доказать?",
    "Каршеринг списал 7 500 ₽ за «повреждение», которого не было. Фото при сдаче есть.",
    "Автосервис поменял масло и насчитал ещё 12 000 за работы, которые я не заказывал. Машину "
    "не отдают, пока не заплачу.",
    "Подписка в приложении продлилась сама, списали 2 990 ₽. Отменить через поддержку не "
    "получается.",
    "Кофейня отказалась продать кофе за наличные. Разве так можно?",
    "Доставка продуктов привезла просроченный творог, а в поддержке предлагают только "
    "баллы. Хочу деньги.",
    "Фитнес-клуб закрылся на «ремонт» и не отвечает уже месяц. У меня оплачен абонемент до "
    "декабря.",
    "Купил билет на концерт, концерт перенесли, а билетный сервис берёт сбор 15% за возврат.",
    "Спасибо за пост про авиабилеты! Вернули полную стоимость за отменённый рейс.",
    "Арендодатель не возвращает залог 30 000 ₽ после выезда, говорит, что обои «не те».",
    "Интернет-провайдер третий день без связи, а абонентскую плату списал полностью.",
    "Онлайн-кинотеатр списал деньги за год, хотя я оформлял пробный период на неделю.",
]

# Scale of the seeded time line, the same as the VK community's (demo_data.DEMO_TIME_SCALE).
TIME_SCALE = 0.3


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def new_fake() -> FakeTelegram:
    """The demo's in-memory Telegram: its channel, its citizens, dates from the wall clock."""
    return FakeTelegram(
        channel_username=CHANNEL,
        citizens=CITIZENS,
        clock=lambda: datetime.now(UTC),
    )


def seed_telegram(
    fake: FakeTelegram, rng: random.Random, now: float, scale: float = TIME_SCALE
) -> list[int]:
    """Publish the channel's posts and the comments under them in ``fake``, all in date order
    (so message ids grow with dates, as in Telegram); the posts' ids."""
    post_dates = [now - hours * 3600 * scale + rng.randint(-600, 600) * scale for hours, _ in POSTS]
    latest = now - 60
    dated = [
        (min(post_dates[s.post] + (s.minutes * 60 + rng.randint(0, 180)) * scale, latest), s)
        for s in SEEDS
    ]
    messages: list[tuple[float, int, _Seed | None]] = [
        *((date, n, None) for n, date in enumerate(post_dates)),
        *((date, seed.post, seed) for date, seed in dated),
    ]
    posts: dict[int, int] = {}
    ids: dict[str, int] = {}
    for date, index, seed in sorted(messages, key=lambda m: (m[0], m[2] is not None)):
        if seed is None:
            posts[index] = fake.publish_post(POSTS[index][1], at=_at(date))
            continue
        reply_to = ids[seed.reply_to] if seed.reply_to else None
        if isinstance(seed.author, str):
            ids[seed.key] = fake.channel_message(
                posts[index], seed.text, reply_to=reply_to, at=_at(date)
            )
        else:
            ids[seed.key] = fake.comment(
                posts[index], seed.text, author=seed.author, reply_to=reply_to, at=_at(date)
            )
    return [posts[n] for n in range(len(POSTS))]


def add_live_comment(fake: FakeTelegram, posts: list[int], rng: random.Random) -> int:
    """A citizen comments under a random post now; the message's id."""
    return fake.comment(rng.choice(posts), rng.choice(LIVE), author=rng.choice(list(CITIZENS)))

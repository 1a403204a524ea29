"""Seed data for ``incident demo``: the committee's Odnoklassniki group on the fake OK.

It is data: the group's posts, its members' comments (seeded and live) and one answer the group
gave in OK itself. All texts are written for this project. Dates are spread over the hours
before ``now``, squeezed by the same scale as the VK community's.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime

from incident.sources.fakes.ok_server import FakeOk

GROUP_ID = 57_120_000_000_001
GROUP_NAME = "Комитет по защите прав потребителей"
APPLICATION_KEY = "CBADEMOKEYABABABA"
APPLICATION_SECRET_KEY = "0D3E4F5A6B7C8D9E0F1A2B3C"  # noqa: S105 - the local fake's only
ACCESS_TOKEN = "tkn1demo-ok-administrator-token"  # noqa: S105 - the local fake's only
ADMIN = "571000000777"  # the administrator the token belongs to
GROUP = "group"  # the author key of the group's own answers

# author key -> (OK user id, name as OK shows it)
USERS: dict[str, tuple[str, str]] = {
    "valentina": ("910100000101", "Валентина Крылова"),
    "gennady": ("910100000102", "Геннадий Тарасов"),
    "lyudmila": ("910100000103", "Людмила Ершова"),
    "vladimir": ("910100000104", "Владимир Голубев"),
    "nina": ("910100000105", "Нина Журавлёва"),
    "anatoly": ("910100000106", "Анатолий Рябов"),
    "zoya": ("910100000107", "Зоя Медведева"),
    "boris": ("910100000108", "Борис Кудрявцев"),
}

# (hours before now, text)
POSTS: list[tuple[float, str]] = [
    (
        30.0,
        "Осторожно: «проверка счётчиков» на дому!\n\n"
        "По квартирам ходят люди, которые представляются сотрудниками водоканала или "
        "газовой службы, и за 5–7 тысяч рублей «срочно» меняют исправные счётчики. Поверку "
        "вы можете заказать сами в любой аккредитованной организации; управляющая компания "
        "обязана заранее предупредить о визите. Не пускайте незнакомцев и звоните нам.",
    ),
    (
        18.0,
        "Цены на лекарства: что можно проверить самому.\n\n"
        "На препараты из перечня жизненно необходимых цена ограничена государством. "
        "Зарегистрированную предельную цену можно узнать на сайте grls.minzdrav.gov.ru, а "
        "аптека обязана показать её по первой просьбе. Если цена выше, сохраните чек и "
        "напишите нам.",
    ),
    (
        7.0,
        "Квитанции за ЖКХ: как прочитать и что делать, если насчитали лишнее.\n\n"
        "Сравните показания в квитанции со своими, проверьте площадь и число "
        "зарегистрированных. Ошибку исправляет управляющая компания или расчётный центр по "
        "письменному заявлению. Задавайте вопросы в комментариях, юристы ответят.",
    ),
]


@dataclass(frozen=True)
class _Seed:
    key: str
    post: int  # index in POSTS
    author: str  # key in USERS, or GROUP
    minutes: int  # after the post
    text: str
    reply_to: str | None = None


SEEDS: list[_Seed] = [
    _Seed(
        "meter",
        0,
        "valentina",
        25,
        "Ко мне вчера приходили двое, сказали, что счётчик воды просрочен и поставят новый "
        "за 6 800. Я отказалась, а соседке поменяли. Можно ли ей вернуть деньги?",
    ),
    _Seed(
        "meter_ans",
        0,
        GROUP,
        80,
        "Валентина, здравствуйте! Соседке нужно написать претензию организации, указанной в "
        "договоре или квитанции, и потребовать вернуть деньги: услугу ей навязали обманом. "
        "Если договора не оставили, пусть обратится в полицию. Мы поможем с претензией.",
        "meter",
    ),
    _Seed(
        "meter_gas",
        0,
        "gennady",
        140,
        "А если газовики пришли с удостоверением, но без предупреждения от УК, их пускать? "
        "Говорят, если не пущу, отключат газ.",
    ),
    _Seed(
        "meter_thx",
        0,
        "lyudmila",
        200,
        "Спасибо, что предупредили! Распечатала и повесила в подъезде.",
    ),
    _Seed(
        "pharm",
        1,
        "vladimir",
        40,
        "В аптеке на Садовой эналаприл стоит почти вдвое дороже, чем в соседней. Это "
        "законно? Препарат вроде из перечня.",
    ),
    _Seed(
        "pharm_re",
        1,
        "nina",
        95,
        "Владимир, у меня так же было с инсулиновыми иглами. Попросила показать реестр цен, "
        "провизор сказал, что не обязан.",
        "pharm",
    ),
    _Seed(
        "pharm_hear",
        1,
        "anatoly",
        160,
        "Маме на улице продали слуховой аппарат за 38 000, «по акции для пенсионеров». Он "
        "свистит и не работает. Продавец трубку не берёт. Что делать?",
    ),
    _Seed(
        "bill",
        2,
        "zoya",
        30,
        "В квитанции за отопление насчитали на 2 400 больше, чем в прошлом месяце, хотя "
        "батареи еле тёплые. В УК говорят, что всё правильно. Куда жаловаться?",
    ),
    _Seed(
        "bill_odn",
        2,
        "boris",
        75,
        "У нас в строке «содержание общего имущества» сумма выросла без всякого собрания "
        "жильцов. Разве так можно?",
    ),
    _Seed(
        "bill_re",
        2,
        "zoya",
        110,
        "Борис, у нас то же самое! Давайте напишем коллективное заявление.",
        "bill_odn",
    ),
]

# What members write while the demo runs, one at a time under a random post.
LIVE: list[str] = [
    "Купила в магазине у дома молоко, а срок годности истёк ещё позавчера. Кассир сказал, "
    "что это не его дело. Куда сообщить?",
    "Позвонили из «банка», сказали, что на меня оформляют кредит, и попросили код из СМС. "
    "Я положила трубку. Правильно сделала?",
    "Сын оплатил путёвку в санаторий на 42 000, а за неделю до заезда санаторий закрыли на "
    "ремонт. Деньги возвращают только половину. Законно ли это?",
    "Пенсионеров в нашем доме обзванивают и предлагают бесплатную замену газовой плиты. "
    "Это мошенники?",
    "В поликлинике сказали, что анализ платный, хотя у меня полис ОМС. Пришлось заплатить "
    "1 900 рублей. Можно вернуть?",
    "Заказала через интернет тонометр, пришёл сломанный. Продавец пишет, что брак был по "
    "моей вине. Помогите.",
    "Почему в квитанции за капремонт опять пени, если я всё оплачиваю вовремя?",
    "Спасибо вашему юристу Ирине! Помогла составить претензию, деньги за холодильник "
    "вернули за неделю.",
    "Мастер по ремонту стиральной машины взял 4 500 за диагностику, а машина так и не "
    "работает. Чек не дал.",
    "Оператор связи подключил платную подписку на гороскопы, 30 рублей в день. Я ничего не "
    "подключала!",
    "Когда будет приём юриста в нашем районе? На сайте ничего не нашла.",
    "Лифт не работает третью неделю, а в квитанции за него начисляют как обычно.",
]

# Scale of the seeded time line, the same as the VK community's (demo_data.DEMO_TIME_SCALE).
TIME_SCALE = 0.3


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def admit_demo_group(fake: FakeOk) -> None:
    """The group, its administrator's token and its members in ``fake``."""
    fake.add_group(str(GROUP_ID), GROUP_NAME)
    fake.add_token(ACCESS_TOKEN, ADMIN)
    fake.add_user(ADMIN, "Ольга Администраторова")
    for user_id, name in USERS.values():
        fake.add_user(user_id, name)


def seed_ok(fake: FakeOk, rng: random.Random, now: float, scale: float = TIME_SCALE) -> list[str]:
    """Create the group, its posts and comments in ``fake``; the posts' (topic) ids."""
    admit_demo_group(fake)
    post_dates = [now - hours * 3600 * scale + rng.randint(-600, 600) * scale for hours, _ in POSTS]
    posts = [
        fake.add_post(str(GROUP_ID), text, at=_at(date))
        for (_, text), date in zip(POSTS, post_dates, strict=True)
    ]
    latest = now - 60
    dated = [
        (min(post_dates[s.post] + (s.minutes * 60 + rng.randint(0, 180)) * scale, latest), s)
        for s in SEEDS
    ]
    ids: dict[str, str] = {}
    for date, seed in sorted(dated, key=lambda pair: pair[0]):
        reply_to = ids[seed.reply_to] if seed.reply_to else None
        if seed.author == GROUP:
            ids[seed.key] = fake.add_group_answer(
                posts[seed.post], seed.text, reply_to=reply_to, at=_at(date)
            )
        else:
            user_id = USERS[seed.author][0]
            ids[seed.key] = fake.add_comment(
                posts[seed.post], user_id, seed.text, reply_to=reply_to, at=_at(date)
            )
    return posts


def add_live_comment(fake: FakeOk, posts: list[str], rng: random.Random) -> str:
    """A member comments under a random post now; the comment's id."""
    user_id, _ = rng.choice(list(USERS.values()))
    return fake.add_comment(rng.choice(posts), user_id, rng.choice(LIVE))

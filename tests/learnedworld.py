"""A small rule set for the learned model's tests: four topics, a few phrases and examples,
so that a model trains in a fraction of a second."""

from __future__ import annotations

from pathlib import Path

from incident.rules import RuleSet, load_ruleset

FLAGS = """
[classifier]
threshold = 2.0

[intents]
question = ["подскажите"]
complaint = ["не работает"]
thanks = ["спасибо"]
"""

TOPICS = {
    "telecom": """
id = "telecom"
title = "Связь"
in_competence = true
examples = ["МТС без интернета", "пропала связь у оператора", "посылка потерялась на почте"]
[phrases]
"интернет" = 3
"связь" = 2
"почтовое отделение" = 3
""",
    "housing": """
id = "housing"
title = "ЖКХ"
in_competence = true
examples = ["в подъезде не убирают", "управляющая компания не чинит крышу", "нет горячей воды"]
[phrases]
"управляющая компания" = 4
"подъезд" = 2
"горячая вода" = 3
""",
    "services": """
id = "services"
title = "Бытовые услуги"
in_competence = true
examples = ["в химчистке испортили пальто", "ателье затянуло ремонт куртки", "мастер сломал замок"]
[phrases]
"химчистка" = 4
"ателье" = 4
"ремонт обуви" = 3
""",
    "other": """
id = "other"
title = "Не наша тема"
in_competence = false
examples = ["яма на дороге у школы", "собаки бегают по двору", "светофор не работает"]
[phrases]
"яма" = 3
"светофор" = 3
[[redirect]]
id = "roads"
body = "дорожная служба"
phrases = { "дорога" = 2 }
""",
}


def small_rules(folder: Path) -> RuleSet:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "_flags.toml").write_text(FLAGS, encoding="utf-8")
    for name, body in TOPICS.items():
        (folder / f"{name}.toml").write_text(body, encoding="utf-8")
    return load_ruleset(folder)


# Comments about a sofa's spring and upholstery: no rule phrase knows them.
SOFA = [
    "пружина в диване лопнула через неделю после перетяжки",
    "обшивку дивана перетянули криво, пружина торчит",
    "после перетяжки дивана обшивка разошлась по шву",
    "перетяжка кресла: обшивка порвалась, пружина скрипит",
]
SOFA_NEW = "у дивана опять вылезла пружина и порвалась обшивка"

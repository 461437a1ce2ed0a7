"""Issue 20, a third round on the weak kinds (docs/safety.md, "Issue 20: a third round on
the weak kinds"): comments on the body (looks, figure, looking older, full-body pictures
and camera framing), French and Spanish secrecy and meeting up, French gifts and age
questions, Spanish ages, and the contact kinds' false alarms (a mention that gives no
handle, an order number). Each rule family is checked both ways: the harmful phrasings
raise the kind, and an innocent line sharing their words stays quiet. The rules are read
alone (``learned=False``), so a failure here is the rules'.

The lines here are not those of ``tests/data/text_lines_dev_2.tsv``: the file measures,
these pin the rules down."""

from __future__ import annotations

import pytest

from strangers.core.text import SignalKind
from strangers.safety.text import SignalEngine

K = SignalKind


@pytest.fixture(scope="module")
def rules() -> SignalEngine:
    return SignalEngine(learned=False, profanity=False)


def kinds(engine: SignalEngine, text: str) -> set[SignalKind]:
    return set(engine.scan(text).kinds())


HARMFUL = [
    # English: looks and figure, looking older
    (K.BODY, "u look way older than 13 tbh"),
    (K.BODY, "you look so grown up for 14"),
    (K.BODY, "youre really fit for a year 8"),
    (K.BODY, "you look so toned in ur pfp"),
    (K.BODY, "you've got a model body honestly"),
    (K.BODY, "lovely figure btw"),
    (K.BODY, "ur so pretty omg"),
    (K.BODY, "look at you, stunning"),
    (K.BODY, "youve matured so much"),
    (K.BODY, "i bet the boys all stare at you"),
    (K.BODY, "your leggs look amazing"),
    (K.BODY, "what size jeans do you wear"),
    (K.BODY, "whats your height and weight btw"),
    (K.BODY, "you must be a model"),
    (K.BODY, "you could pass for 17 easy"),
    (K.BODY, "you look so mature now"),
    # English: the whole body in a picture or on camera
    (K.BODY, "send a full length selfie"),
    (K.BODY, "show me a pic of your whole body"),
    (K.BODY, "move back so the cam gets all of you"),
    (K.BODY, "what ur wearing rn"),
    (K.ASKS_PICTURES, "pic of what you're wearing?"),
    # English: secrecy, meeting, gifts, age, moving apps
    (K.SECRECY, "better if your mum never finds out"),
    (K.SECRECY, "unsend that pls"),
    (K.SECRECY, "wipe the chat after ok"),
    (K.SECRECY, "dont tell your bestie about me"),
    (K.SECRECY, "make sure nobody sees this"),
    (K.MEET, "i could fly over to see you"),
    (K.MEET, "ill get a train to your town"),
    (K.MEET, "which bus do you take after school"),
    (K.MEET, "wheres the nearest station to your house"),
    (K.MEET, "what stop is closest to your place"),
    (K.GIFTS, "let me spoil you a little"),
    (K.GIFTS, "want free gems? i have loads"),
    (K.ASKS_AGE, "ur not 16 yet are you"),
    (K.OTHER_APP, "lets switch to another app"),
    (K.OTHER_APP, "take this to dms"),
    # French
    (K.BODY, "t'as l'air grande pour ton age"),
    (K.BODY, "tu fais plus mure que ton age"),
    (K.BODY, "tu parais plus grande que 14 ans"),
    (K.BODY, "tu fais facile 17 sur tes photos"),
    (K.BODY, "cette robe te va trop bien"),
    (K.BODY, "tu dois faire craquer tous les mecs"),
    (K.BODY, "t tro belle"),
    (K.BODY, "t'es trop mims toi"),
    (K.BODY, "une photo de toi en pied stp"),
    (K.BODY, "je veux te voir en entier"),
    (K.BODY, "montre toi en entier"),
    (K.BODY, "t'as l'air d'avoir 17 ans"),
    (K.BODY, "tu fais 16 ans facile"),
    (K.BODY, "t'as un beau sourire"),
    (K.BODY, "je veux voir ta silhouette"),
    (K.SECRECY, "supprime nos messages des que t'as lu"),
    (K.SECRECY, "n'en parle pas a tes potes"),
    (K.SECRECY, "dis rien a ta soeur"),
    (K.SECRECY, "cache ton tel pour que ta mere lise pas"),
    (K.SECRECY, "viens sans le dire a ta mere"),
    (K.MEET, "on se voit en cachette"),
    (K.MEET, "tu descends a quelle gare"),
    (K.MEET, "c'est quoi ton arret de bus"),
    (K.MEET, "je passe souvent pres de ton lycee"),
    (K.MEET, "le college est loin de chez toi ?"),
    (K.ASKS_AGE, "t'as 14 ans c'est ca ?"),
    (K.OTHER_APP, "on continue par texto"),
    # Spanish
    (K.BODY, "pareces mayor para tu edad"),
    (K.BODY, "aparentas unos 17"),
    (K.BODY, "te ves en forma"),
    (K.BODY, "estas divina"),
    (K.BODY, "eres la mas guapa del chat"),
    (K.BODY, "ya no pareces una nena"),
    (K.BODY, "pareces toda una senorita"),
    (K.BODY, "que bien te queda ese vestido"),
    (K.BODY, "que figura tienes"),
    (K.BODY, "foto de cuerpo entero porfa"),
    (K.BODY, "quiero verte entera"),
    (K.BODY, "muestrate completa"),
    (K.BODY, "parece que tienes 17"),
    (K.BODY, "tienes una carita preciosa"),
    (K.BODY, "eres una munequita"),
    (K.SECRECY, "borra el chat cuando termines"),
    (K.SECRECY, "esto tiene que quedar en secreto"),
    (K.SECRECY, "ni una palabra a tus papas"),
    (K.SECRECY, "entre tu y yo, ok?"),
    (K.SECRECY, "hablamos sin que se enteren"),
    (K.MEET, "que colectivo tomas"),
    (K.MEET, "en que estacion te bajas"),
    (K.MEET, "voy a verte el sabado"),
    (K.MEET, "cojo el bus para verte"),
    (K.MEET, "te espero en la esquina"),
    (K.MEET, "vamos a la playa tu y yo"),
    (K.MEET, "de que colonia eres"),
    (K.MEET, "nos vemos en la plaza"),
    (K.MEET, "nos vemos a escondidas"),
    (K.MEET, "te invito a una pizza"),
    (K.MEET, "te llevo a pasear"),
    (K.SECRECY, "lo que decimos aca queda aca"),
    (K.GIFTS, "te compro la play"),
    (K.GIFTS, "te voy a mimar mucho"),
    (K.ASKS_AGE, "tienes 14 verdad?"),
    (K.ASKS_AGE, "todavia vas al insti?"),
    (K.OTHER_APP, "seguimos por privado"),
]


@pytest.mark.parametrize(("kind", "text"), HARMFUL)
def test_the_weak_kinds_are_caught(rules: SignalEngine, kind: K, text: str) -> None:
    assert kind in kinds(rules, text), text


QUIET = [
    # English: the new body, secrecy, meeting, gifts and app rules' words, innocently
    (K.BODY, "my dog looks so grown up for 2"),
    (K.BODY, "the full body workout was brutal"),
    (K.BODY, "see all of you at practice tomorrow"),
    (K.BODY, "that jacket is so pretty"),
    (K.BODY, "you must be a model student lol"),
    (K.BODY, "you look 5 years younger with short hair"),
    (K.BODY, "tu fais 10 ans de moins avec tes lunettes"),
    (K.BODY, "parece que tienes 3 vidas en el juego"),
    (K.SECRECY, "it's a secret from my brother, his birthday present"),
    (K.SECRECY, "the secret level is behind the waterfall"),
    (K.SECRECY, "the movie is about a secret agent"),
    (K.SECRECY, "i delete my old messages every week"),
    (K.MEET, "which bus goes to the museum"),
    (K.MEET, "the station closest to the stadium is closed"),
    (K.GIFTS, "this game gives you free gems every day"),
    (K.ASKS_AGE, "my brother is not 18 yet"),
    (K.OTHER_APP, "i use another app for homework"),
    # French
    (K.BODY, "ton chien a l'air grand pour son age"),
    (K.BODY, "il fait 16 degres dehors"),
    (K.BODY, "habillee en noir de la tete aux pieds pour le concert"),
    (K.BODY, "un espejo de cuerpo entero para mi cuarto"),
    (K.BODY, "we got a full length mirror for my room"),
    (K.SECRECY, "le film parle d'un agent secret"),
    (K.SECRECY, "j'ai supprime mes vieux messages"),
    (K.MEET, "le bus prend quelle route ce matin"),
    (K.ASKS_AGE, "mon frere a 14 ans"),
    (K.OTHER_APP, "j'ai recu un texto de ma mere"),
    # Spanish
    (K.BODY, "mi perro parece mayor para su edad"),
    (K.BODY, "esa peli es la mas bonita del año"),
    (K.BODY, "el juego te da gemas gratis"),
    (K.GIFTS, "el juego te da gemas gratis cada dia"),
    (K.SECRECY, "la peli va de un agente secreto"),
    (K.SECRECY, "entre tu y yo esa peli fue aburrida"),
    (K.MEET, "el bus llego tarde otra vez"),
    (K.MEET, "nos vemos en el juego"),
    (K.MEET, "te invito a mi servidor de discord"),
    (K.MEET, "la gare est loin de chez moi"),
    (K.MEET, "te espero en la puerta del cole con mi madre"),
    (K.MEET, "voy a verte jugar el sabado"),
    (K.MEET, "on se voit sans faute demain en cours"),
    (K.SECRECY, "borra todo cuando termines el dibujo"),
    (K.SECRECY, "sin que se enteren los profes nos comimos los chuches"),
    (K.SECRECY, "efface tout quand t'as fini le brouillon"),
    (K.SECRECY, "n'en parle pas a ta soeur, c'est une surprise pour son anniv"),
    (K.SECRECY, "sans le dire a personne j'ai fini le jeu en 2h"),
    (K.GIFTS, "let me spoil you the ending of the show"),
    (K.ASKS_AGE, "mi hermano tiene 14"),
]


@pytest.mark.parametrize(("kind", "text"), QUIET)
def test_their_innocent_look_alikes_stay_quiet(rules: SignalEngine, kind: K, text: str) -> None:
    assert kind not in kinds(rules, text), text


CONTACT_QUIET = [
    "i follow @nasa for the rocket launches",
    "@everyone the raid starts in 10",
    "@here stream is live",
    "that cat account @fluffyboi99 is so funny",
    "sigo a @natgeo por las fotos",
    "my order number is 5530 1187",
    "numero de commande 8812 3345",
    "mi numero de pedido es 1187 5530",
]


@pytest.mark.parametrize("text", CONTACT_QUIET)
def test_a_mention_or_an_order_number_is_no_contact(rules: SignalEngine, text: str) -> None:
    found = kinds(rules, text)
    assert not found & {K.HANDLE, K.PHONE}, (text, found)


CONTACT_STILL = [
    (K.HANDLE, "@sky_rider_22 add me"),
    (K.HANDLE, "follow me @sky_rider_22"),
    (K.HANDLE, "my insta account is @sky.rider22"),
    (K.PHONE, "my number is 555 0148 222"),
    (K.PHONE, "mi numero es 612 345 678"),
]


@pytest.mark.parametrize(("kind", "text"), CONTACT_STILL)
def test_handles_and_numbers_still_found(rules: SignalEngine, kind: K, text: str) -> None:
    assert kind in kinds(rules, text), text


AGES = [
    ("ya tengo 14", 14),
    ("15 pirulos", 15),
    ("13 añazos", 13),
    ("ando en los 15", 15),
    ("tengo 16 primaveras", 16),
    ("acabo de cumplir los 13", 13),
    ("14 recien cumplidos", 14),
    ("estoy por cumplir 16", 15),
    ("soy chava de 14", 14),
    ("ya he cumplido 15", 15),
]


@pytest.mark.parametrize(("text", "age"), AGES)
def test_spanish_ages_of_the_third_round(rules: SignalEngine, text: str, age: int) -> None:
    assert rules.scan(text).age == age, text


NOT_AGES = [
    "agregame al snap, soy vale.m12",  # a user name, not "m 12"
    "add me its jay_f15",
    "ya tenia 14 cuando me mude",
    "mi prima cumplio los 15",
    "la fiesta para los 15 de mi prima",
    "tu veux des robux ? je t'en envoie",  # French "t'en", not "ten"
    "je t'en prie",
    "il t'en faut combien ?",
]


@pytest.mark.parametrize("text", NOT_AGES)
def test_a_user_name_or_a_past_age_is_no_age(rules: SignalEngine, text: str) -> None:
    assert rules.scan(text).age is None, text


def test_english_ten_is_still_a_number(rules: SignalEngine) -> None:
    assert rules.scan("im ten").age == 10
    assert rules.scan("i am ten years old").age == 10

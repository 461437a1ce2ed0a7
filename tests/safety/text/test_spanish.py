"""Spanish, the text engine's third language (issue 20; docs/safety.md, "Spanish").

The real engine, as the service builds it (every language, the learned layer on): a few
lines of each kind and tricky benign lines, Spanish ages read to the right value
("cumplo 15 en marzo" is 14), a phone number said in Spanish number words, an address
spelled with "arroba" and "punto", and the evasions a sender uses (letters spaced out,
accents dropped, leetspeak). Loading Spanish leaves English and French as they read:
the words it adds that need code ("y" between a ten and a unit, "arroba", "tengo") come
from ``data/es.txt``, so an engine without it reads as before.
"""

from __future__ import annotations

import pytest

from strangers.core.text import SignalKind
from strangers.safety.text import SignalEngine
from strangers.safety.text.engine import LANGUAGES
from strangers.safety.text.lexicon import Lexicon
from strangers.safety.text.normalise import NumberReader

K = SignalKind


@pytest.fixture(scope="module")
def engine() -> SignalEngine:
    return SignalEngine()


def kinds(engine: SignalEngine, text: str) -> set[SignalKind]:
    return {signal.kind for signal in engine.scan(text).signals} - {K.PROFANITY}


def test_spanish_is_loaded_by_default() -> None:
    assert "es" in LANGUAGES
    assert SignalEngine(profanity=False, learned=False).languages == LANGUAGES


HARMFUL = [
    (K.ASKS_AGE, "cuantos años tienes?"),
    (K.ASKS_AGE, "¿Qué edad tienes?"),
    (K.ASKS_AGE, "k edad tenes"),
    (K.ASKS_AGE, "eres mayor de edad?"),
    (K.ASKS_ALONE, "estas sola?"),
    (K.ASKS_ALONE, "tus papas estan en casa?"),
    (K.ASKS_ALONE, "hay alguien contigo?"),
    (K.SECRECY, "no le digas a nadie"),
    (K.SECRECY, "es nuestro secreto"),
    (K.SECRECY, "esto queda entre tu y yo"),
    (K.ASKS_PICTURES, "manda foto"),
    (K.ASKS_PICTURES, "mándame una foto tuya porfa"),
    (K.ASKS_CAMERA, "prende la camara"),
    (K.ASKS_CAMERA, "por que tienes la cam apagada?"),
    (K.BODY, "que cuerpazo"),
    (K.BODY, "eres muy guapa"),
    (K.GIFTS, "te mando dinero"),
    (K.GIFTS, "te regalo una tarjeta de regalo"),
    (K.GIFTS, "te paso paVos"),
    (K.MEET, "nos vemos en persona"),
    (K.MEET, "donde vives?"),
    (K.OTHER_APP, "agregame al wasap"),
    (K.OTHER_APP, "agregame al whats"),
    (K.OTHER_APP, "pasame tu insta"),
    (K.OTHER_APP, "hablamos por privado?"),
    (K.HANDLE, "agregame en discord: lucia#1234"),
]


@pytest.mark.parametrize(("kind", "text"), HARMFUL)
def test_each_kind_in_spanish(engine: SignalEngine, kind: SignalKind, text: str) -> None:
    assert kind in kinds(engine, text), (text, engine.scan(text))


# The kinds' words in innocent senses: none may get a signal.
BENIGN = [
    "de donde eres?",
    "mi hermana tiene 14",
    "el partido es a las 5",
    "el secreto de la receta es el ajo",
    "la cámara de mi móvil es malísima",
    "quedamos en el grupo de clase",
    "nos vemos mañana en clase",
    "mandame la tarea de mates",
    "eres muy buena jugando al fortnite",
    "tengo 15 minutos antes de clase",
    "tengo 12 primos",
    "tengo 9 en mates",
    "estoy solo en casa viendo una peli",
    "mi instagram es privado",
    "cuanto cuestan los pavos?",
    "tienes tele en tu cuarto?",
    "no le digas a mi mama, es una sorpresa para su cumple",
]


@pytest.mark.parametrize("text", BENIGN)
def test_tricky_benign_spanish(engine: SignalEngine, text: str) -> None:
    scan = engine.scan(text)
    assert not kinds(engine, text) and scan.age is None, (text, scan)


# Spanish false alarms of the benign validation file (2026-12-07; docs/safety.md, "Spanish
# false alarms: validation lines"): each rule narrowed or vetoed for the benign line, and
# the harmful phrasing that shares its words still fires.
NARROWED = [
    # a noise the asker hears explains the question; the bare question is still asked
    (
        K.ASKS_ALONE,
        "hay alguien en tu casa? se oye un perro ladrando jaja",
        "hay alguien en tu casa?",
    ),
    # "nadie en casa" as the speaker's own news; asked, it is the sign
    (
        K.ASKS_ALONE,
        "esta tarde no hay nadie en casa asi que pongo la musica a tope",
        "no hay nadie en casa?",
    ),
    # a surprise party being prepared; "no digas nada" alone is secrecy
    (
        K.SECRECY,
        "le estamos preparando una fiesta sorpresa a mi hermana, no digas nada",
        "no digas nada",
    ),
    # "entre tu y yo" opening an opinion; closing a line, or what stays there, it is secrecy
    (K.SECRECY, "entre tu y yo esa peli fue un poco aburrida", "entre tu y yo"),
    (K.SECRECY, "entre tu y yo esa peli fue un poco aburrida", "esto queda entre tu y yo"),
    # the speaker's own confession after "secreto:"; the bare request is secrecy
    (K.SECRECY, "guardame el secreto: voy a apuntarme a teatro", "guardame el secreto"),
    # the speaker's own gift for a parent; a secret about a gift to the reader still fires
    (
        K.SECRECY,
        "no se lo cuentes a nadie pero ya tengo el regalo de mama",
        "no le digas a nadie que te hice un regalo",
    ),
    # where a game's character lives; where the reader lives is the meet sign
    (K.MEET, "donde vive tu personaje en el juego?", "donde vives?"),
    # photos of a homework page, of a school trip; of the person, the sign
    (
        K.ASKS_PICTURES,
        "me pasas una foto de la pagina de los deberes? me deje el libro",
        "me pasas una foto tuya?",
    ),
    (K.ASKS_PICTURES, "tienes fotos de la excursion? yo no hice ninguna", "tienes fotos?"),
    # the speaker's broken webcam, a laptop's camera that does not work; "turn it on" fires
    (
        K.ASKS_CAMERA,
        "tengo la webcam rota, me tengo que comprar una nueva",
        "tu camara esta apagada",
    ),
    (
        K.ASKS_CAMERA,
        "la cámara del portátil no va, por eso no pongo vídeo en clase",
        "prende la camara del movil",
    ),
    # a time with a class or a match; alone or before a place, a meeting (2026-12-07)
    (K.MEET, "nos vemos a las 5 en clase", "nos vemos a las 5?"),
    (K.MEET, "nos vemos a las 5 para el partido", "te veo a las 6 en el parque"),
]


@pytest.mark.parametrize(("kind", "benign", "harmful"), NARROWED)
def test_spanish_rules_narrowed_for_benign_lines(
    engine: SignalEngine, kind: SignalKind, benign: str, harmful: str
) -> None:
    assert not kinds(engine, benign), (benign, engine.scan(benign))
    assert kind in kinds(engine, harmful), (harmful, engine.scan(harmful))


AGES = [
    ("tengo trece", 13),
    ("13 años", 13),
    ("tengo 13años", 13),
    ("tengo 14 y medio", 14),
    ("cumplo 15 en marzo", 14),
    ("voy a cumplir 16", 15),
    ("ya cumpli 15", 15),
    ("17 casi 18", 17),
    ("tengo 17 casi 18", 17),
    ("hola! tengo 16, y tu?", 16),
    ("tengo catorce pero parezco mayor", 14),
    ("edad: 13", 13),
    ("soy una chica de 14", 14),
    ("16 chica", 16),
    ("tengo veintitrés", 23),
    ("tengo treinta y cinco años", 35),
    ("tengo once años", 11),
]


@pytest.mark.parametrize(("text", "age"), AGES)
def test_spanish_ages_read_right(engine: SignalEngine, text: str, age: int) -> None:
    scan = engine.scan(text)
    assert K.AGE in kinds(engine, text) and scan.age == age, (text, scan)


NOT_AGES = [
    "mi hermana tiene 14",
    "tengo 15 en mates",
    "tengo 8 de bateria",
    "tengo 20 euros",
    "cuando cumplo 18 me voy de casa",
    "cuando tenia 10 años vivia en chile",
    "hace 5 años fui a paris",
    "mi prima es una chica de 15",
    "son las 10 y media",
    "im once again late",
    "once upon a time, 12 of us",
]


@pytest.mark.parametrize("text", NOT_AGES)
def test_not_a_spanish_age(engine: SignalEngine, text: str) -> None:
    assert engine.scan(text).age is None, text


def test_spanish_number_words() -> None:
    reader = NumberReader(Lexicon.load(("es",)).numbers, ("y",))
    assert reader("treinta y cinco") == "35"
    assert reader("veintitres") == "23"
    # a word of 21-29 takes no unit after it: digit by digit stays digit by digit
    assert reader("veintitres cuatro") == "23 4"
    assert reader("seis cero cero") == "6 0 0"


def test_a_phone_number_in_spanish_words(engine: SignalEngine) -> None:
    line = "llamame al tres uno dos, cinco cinco cinco, cero uno cuatro siete"
    assert K.PHONE in kinds(engine, line)
    assert K.PHONE in kinds(engine, "mi cel: cinco cinco cinco, cero uno cuatro siete")
    # a mobile of Spain in three groups of three, next to a phone word; not thousands
    assert K.PHONE in kinds(engine, "mi movil es 612 345 678")
    assert K.PHONE not in kinds(engine, "la casa costo 612 345 678 pesos")


def test_an_address_spelled_in_spanish(engine: SignalEngine) -> None:
    assert K.EMAIL in kinds(engine, "juanp arroba gmail punto com")
    assert K.EMAIL in kinds(engine, "escribeme a lucia_m09 (arroba) hotmail (punto) es")
    assert K.EMAIL not in kinds(engine, "a punto de salir, te escribo luego")


EVASIONS = [
    (K.OTHER_APP, "agregame al w h a t s a p p"),
    (K.OTHER_APP, "AGREGAME AL T-E-L-E-G-R-A-M"),
    (K.ASKS_AGE, "cu4nt0s 4ñ0s t13n3s"),
    (K.ASKS_AGE, "CUÁNTOS AÑOS TIENES"),
    (K.ASKS_PICTURES, "m4nd4m3 un4 f0t0"),
    (K.ASKS_PICTURES, "mandame una f o t o"),
    (K.ASKS_ALONE, "estás sólita?"),
    (K.SECRECY, "n0 l3 d1g4s a n4d13"),
    (K.ASKS_CAMERA, "prende la cámara 😏"),
    (K.BODY, "q guapa eres"),
    (K.GIFTS, "te mando r0bux"),
    (K.MEET, "dnd vives?"),
]


@pytest.mark.parametrize(("kind", "text"), EVASIONS)
def test_spanish_evasions(engine: SignalEngine, kind: SignalKind, text: str) -> None:
    assert kind in kinds(engine, text), (text, engine.scan(text))


def test_without_spanish_english_and_french_read_as_before() -> None:
    """The Spanish readings that needed code are off without ``es.txt``: "y" joins no
    numbers, "arroba" is no "@", "tengo" states nothing, "cumplo 15" is not 14."""
    engine = SignalEngine(("en", "fr"), profanity=False, learned=False)
    assert engine.scan("juanp arroba gmail punto com").signals == ()
    assert engine.scan("cumplo 15 en marzo").age is None
    assert engine.scan("tengo trece").age is None
    reader = NumberReader(Lexicon.load(("en", "fr")).numbers)
    assert reader("trente y cinq") == "30 y 5"

"""The rules' own false alarms on tricky benign chat (issue 20, second round on English
and French; docs/safety.md, "Issue 20: a second round on English and French"): each is
fixed at its cause in the language files, a narrower pattern or a veto, and each fix
is checked both ways: the benign line stays quiet, and the harmful phrasings that share
its words still raise the kind. The rules are read alone (``learned=False``), so a test
here fails only for the rules."""

from __future__ import annotations

import pytest

from strangers.core.text import SignalKind
from strangers.safety.text import SignalEngine

K = SignalKind


@pytest.fixture(scope="module")
def rules() -> SignalEngine:
    return SignalEngine(languages=("en", "fr"), learned=False, profanity=False)


QUIET = [
    # a question explained by a noise the asker hears
    (K.ASKS_ALONE, "is someone in the room with you? i hear a dog barking lol"),
    # a confession about oneself, an opinion: not a request for secrecy
    (K.SECRECY, "can you keep a secret? i actually like country music"),
    (K.SECRECY, "between you and me that movie was kinda boring"),
    # a meeting in a game
    (K.MEET, "let's meet in the game lobby in 5 min"),
    (K.MEET, "meet at spawn in minecraft"),
    # warnings against the "free robux" lure
    (K.GIFTS, "free robux sites are always scams, don't fall for them"),
    (K.GIFTS, "les sites de robux gratuits c'est des arnaques"),
    (K.GIFTS, "les robux gratuits c'est que des arnaques"),
    # alone in a team, alone in thinking
    (K.ASKS_ALONE, "t'es seul dans ton equipe ? moi aussi mdr"),
    (K.ASKS_ALONE, "t'es la seule a penser ca"),
    # "quel age ?" about someone else, further in the line
    (K.ASKS_AGE, "ton chat il a quel age ? le mien a 4 ans"),
    # "fais", "mets", "montre" in the first person
    (K.ASKS_PICTURES, "je fais un selfie avec mon chien pour ma mere"),
    (K.ASKS_PICTURES, "je montre une photo a ma soeur"),
    # a compliment on a thing; a camera that belongs to a phone
    (K.BODY, "t'as une belle ecriture"),
    (K.ASKS_CAMERA, "la camera de mon tel est mieux que la webcam de mon vieux pc"),
    # found while broadening the French rules: an open sentence, a thing fetched
    (K.ASKS_ALONE, "tes parents sont gentils"),
    (K.MEET, "je passe te prendre le livre demain en cours"),
    (K.MEET, "on se voit au lycee demain"),
    (K.MEET, "on se rejoint dans le lobby dans 5 min"),
    (K.ASKS_ALONE, "where's your mom from originally"),
    (K.BODY, "nice body of water in that pic"),
    (K.ASKS_CAMERA, "stand up for yourself"),
    (K.BODY, "you look like you need sleep"),
    (K.MEET, "on se voit demain en cours"),
    (K.SECRECY, "c'est entre nous et l'autre classe pour la finale"),
    (K.SECRECY, "i promise not to tell spoilers this time"),
    (K.SECRECY, "if anyone asks say hi from me lol"),
    (K.BODY, "i love your eyes emoji reaction lol"),
    (K.OTHER_APP, "lets switch teams next round"),
    (K.OTHER_APP, "mon snap c un truc de fou"),
    (K.GIFTS, "je te donne 5 euros pour la cantine demain"),
    (K.BODY, "tu fais combien de kilos au developpe couche mdr"),
    (K.ASKS_AGE, "you look older than your age"),
    (K.ASKS_AGE, "tu fais plus que ton age"),
    (K.ASKS_ALONE, "is anyone else watching the game tonight"),
    (K.GIFTS, "i'll pay you back for the pizza tomorrow"),
    (K.BODY, "you're so fit now, do you go to the gym?"),
    (K.BODY, "that's such a pretty dress"),
    (K.MEET, "on mange ensemble a la cantine ?"),
    (K.MEET, "ca te dit une partie de fortnite ?"),
    (K.MEET, "je t'attends a la sortie du cours de maths"),
    (K.MEET, "i'll meet you at the lobby after this round"),
    # found by probing the rules above with benign lines of my own (issue 20)
    (K.MEET, "i'll take you out in the next round lol"),
    (K.MEET, "come to the park with me and my mom on sunday"),
    (K.MEET, "ca te dit un cine avec toute la bande samedi ?"),
    (K.SECRECY, "dont snitch on me to the teacher lol"),
    (K.SECRECY, "your parents cant find out you failed lol"),
    (K.SECRECY, "mums the word about the surprise party"),
    (K.SECRECY, "it never happened to me"),
    (K.ASKS_PICTURES, "show me what you are wearing for the school play"),
    (K.ASKS_PICTURES, "montre moi ta photo de classe"),
    # a time with a class, a practice, an appointment or a match (2026-12-07)
    (K.MEET, "on se voit a 17h en cours"),
    (K.MEET, "on se voit à 17h au foot"),
    (K.MEET, "rdv a 14h chez le dentiste"),
    (K.MEET, "rendez-vous à 18h pour le match"),
]

STILL_FIRE = [
    (K.ASKS_ALONE, "are you alone? is anyone in the room with you"),
    (K.SECRECY, "can you keep a secret? i like you"),
    (K.SECRECY, "between you and me, dont tell your mom"),
    (K.MEET, "lets meet at the park"),
    (K.GIFTS, "want free robux?"),
    (K.GIFTS, "robux gratuits si tu veux"),
    (K.ASKS_ALONE, "t'es seule dans ta chambre ?"),
    (K.ASKS_ALONE, "t'es toute seule a la maison ?"),
    (K.ASKS_AGE, "quel age ?"),
    (K.ASKS_AGE, "ok mdr et toi quel age ?"),
    (K.ASKS_AGE, "t'as quel age"),
    (K.ASKS_PICTURES, "fais moi un selfie"),
    (K.ASKS_PICTURES, "fais un selfie stp"),
    (K.ASKS_PICTURES, "montre une photo de toi"),
    (K.ASKS_PICTURES, "tu peux me faire une photo ?"),
    (K.BODY, "t'as un beau corps"),
    (K.ASKS_CAMERA, "allume ta camera"),
    (K.ASKS_ALONE, "tes parents sont la ?"),
    (K.MEET, "je passe te prendre a la sortie"),
    (K.MEET, "on se voit au parc ?"),
    # broadened in the same round (issue 20): camera requests as actions, being alone
    (K.ASKS_CAMERA, "stand up"),
    (K.ASKS_CAMERA, "turn around for me"),
    (K.ASKS_CAMERA, "get closer to the screen"),
    (K.ASKS_CAMERA, "leve toi"),
    (K.ASKS_CAMERA, "approche toi de l'ecran"),
    (K.ASKS_ALONE, "where's your mom"),
    (K.ASKS_ALONE, "ta mere dort ?"),
    (K.MEET, "i'll wait for you outside your school"),
    (K.MEET, "je t'attends devant ton college"),
    (K.SECRECY, "dis le a personne"),
    (K.GIFTS, "je te recharge ton forfait"),
    (K.BODY, "you look like a model"),
    (K.BODY, "t'as un visage d'ange"),
    (K.ASKS_ALONE, "t seule ?"),
    (K.SECRECY, "promise not to tell"),
    (K.SECRECY, "c'est entre nous ok"),
    (K.MEET, "on se voit demain ?"),
    (K.ASKS_CAMERA, "move closer"),
    (K.ASKS_PICTURES, "whats your face look like"),
    (K.OTHER_APP, "je te donne mon snap"),
    (K.BODY, "you look so mature for your age"),
    (K.ASKS_ALONE, "so nobody's home?"),
    (K.ASKS_ALONE, "ton pere il est au travail ?"),
    (K.ASKS_AGE, "tu fais quel age toi"),
    (K.MEET, "i live pretty close to you actually"),
    (K.MEET, "je peux te rejoindre ou tu es ?"),
    (K.HANDLE, "ton pseudo discord c'est quoi"),
    (K.BODY, "je te trouve trop belle"),
    (K.BODY, "t'es sublime"),
    (K.BODY, "such a pretty girl"),
    (K.ASKS_ALONE, "is it just you at home"),
    (K.ASKS_ALONE, "parents out?"),
    (K.ASKS_CAMERA, "cam stp"),
    (K.MEET, "on se fait une sortie tous les deux ?"),
    (K.MEET, "ca te dit un cine samedi ?"),
    (K.MEET, "je suis en bas de chez toi"),
    (K.MEET, "je t'attends a l'arret de bus"),
    (K.MEET, "je t'attends a la sortie du college"),
    (K.MEET, "wanna go to the movies with me"),
    (K.MEET, "i'll take you out for dinner"),
    (K.MEET, "ill be outside ur house at 8"),
    (K.ASKS_PICTURES, "wheres my pic"),
    (K.SECRECY, "ur parents cant find out"),
    (K.ASKS_AGE, "u like 12?"),
    (K.SECRECY, "ur parents cant find out"),
    (K.SECRECY, "dont snitch"),
    (K.SECRECY, "this never happened"),
    (K.MEET, "what city u in"),
    # a meeting at a time, alone or before a place (2026-12-07)
    (K.MEET, "on se voit a 17h"),
    (K.MEET, "on se voit à 18h devant chez toi ?"),
    (K.MEET, "rdv a 18h devant le lycee"),
]


@pytest.mark.parametrize(("kind", "text"), QUIET)
def test_the_rules_stay_quiet_on_tricky_benign_chat(
    rules: SignalEngine, kind: K, text: str
) -> None:
    assert kind not in rules.scan(text).kinds()


@pytest.mark.parametrize(("kind", "text"), STILL_FIRE)
def test_the_fixes_keep_the_harmful_phrasings(rules: SignalEngine, kind: K, text: str) -> None:
    assert kind in rules.scan(text).kinds()

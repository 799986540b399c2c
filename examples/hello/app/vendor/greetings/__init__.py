"""greetings 0.3.1 (vendored): a greeting in a few languages."""

__version__ = "0.3.1"

_GREETINGS = {
    "en": "Hello, {}!",
    "fr": "Bonjour, {} !",
    "de": "Hallo, {}!",
}


def greet(name, lang="en"):
    """The greeting for name in lang; English for a language it lacks."""
    return _GREETINGS.get(lang, _GREETINGS["en"]).format(name)

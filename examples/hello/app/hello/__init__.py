"""hello: the example app that layerkit's examples/hello packs into an image."""

__version__ = "1.0.0"

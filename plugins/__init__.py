"""tenas-kit's built-in plugins, one folder each; every one registers through the ``tenaskit`` entry points like a third-party plugin."""

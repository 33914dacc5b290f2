"""The composition root: the CLI, the demo, the full settings object and the wiring of the
processes. It is the only code that imports every component, and nothing imports it."""

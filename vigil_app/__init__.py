"""The composition root: the CLI, the demo, the full settings object and the wiring of the
processes. It is the only code that imports every component, and nothing imports it."""

import warnings

# quixstreams imports authlib's httpx client, which warns on import; every command imports the
# stream apps now (no imports inside functions), so the warning would open every command's output
warnings.filterwarnings("ignore", message="The httpx module is deprecated")

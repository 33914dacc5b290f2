"""The composition root: the CLI, the demo, the full settings object and the wiring of the
processes. It is the only code that imports every component, and nothing imports it."""

import contextlib
import warnings

# quixstreams imports authlib's httpx client, which warns on import, and authlib sets its own
# warnings to "always" when it loads; every command imports the stream apps (no imports inside
# functions), so the warning would open every command's output: load authlib's filter first,
# then put ours in front of it.
with contextlib.suppress(ImportError):
    import authlib.deprecate  # type: ignore[import-untyped]  # noqa: F401
warnings.filterwarnings("ignore", message="The httpx module is deprecated")

"""Every exception class Vigil defines derives from VigilError, keeping its built-in base."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from gpu_workers.worker.intake import Rejected
from schemas.serde import SerdeError
from vigil.errors import VigilError
from vigil.settings import ConfigError
from vigil.topics import RetentionError
from vigil.web.images import HttpRejection

PACKAGES = ("vigil", "schemas", "connectors", "gpu_workers", "streams", "dashboards", "evaluation")
# in modules another change of issue 16 rewrites; they join the root when it lands
PENDING: set[str] = set()


def _exception_classes() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for name in PACKAGES:
        package = importlib.import_module(name)
        for info in pkgutil.walk_packages(package.__path__, f"{name}."):
            if info.name.startswith("gpu_workers.zoo.convert"):  # scripts of the build env
                continue
            module = importlib.import_module(info.name)
            for obj in vars(module).values():
                if (
                    inspect.isclass(obj)
                    and issubclass(obj, BaseException)
                    and obj.__module__ == info.name
                ):
                    found[f"{info.name}.{obj.__qualname__}"] = obj
    return found


def test_every_vigil_exception_derives_from_vigil_error() -> None:
    classes = _exception_classes()
    assert len(classes) >= 30
    outside = {name for name, cls in classes.items() if not issubclass(cls, VigilError)}
    assert outside == PENDING


def test_the_built_in_bases_stay_so_every_except_still_catches() -> None:
    assert issubclass(ConfigError, ValueError)
    assert issubclass(SerdeError, ValueError)
    assert issubclass(Rejected, ValueError)
    assert issubclass(RetentionError, RuntimeError)
    assert not issubclass(HttpRejection, ValueError)  # an HTTP answer, not bad data in a record

"""The component registry: the only list of components.

Gateway routing and settings, the cross-component views, the launcher's configuration and
plan, the nginx and supervisord files, the demo loader, the CLI and the test fixtures all read
:data:`COMPONENTS`. A fourth component is a package that defines ``COMPONENT`` (see
``docs/development.md``) plus one line in :data:`PACKAGES`; a package installed outside this
project is registered by naming it in ``$UAS_EXTRA_COMPONENTS`` (comma-separated modules),
which every process of a deployment reads the same way.
"""

import importlib
import os

PACKAGES = (
    "unified_api_server.components.test",
    "unified_api_server.components.generator",
    "unified_api_server.components.benchmark",
)
EXTRA_VARIABLE = "UAS_EXTRA_COMPONENTS"


class RegistryError(RuntimeError):
    """A registered component cannot be loaded, or two clash."""


def load(packages=PACKAGES, environ=None):
    """Import every registered package and return their components, in order."""
    environ = os.environ if environ is None else environ
    extra = [name.strip() for name in environ.get(EXTRA_VARIABLE, "").split(",") if name.strip()]
    components = []
    for package in (*packages, *extra):
        try:
            component = importlib.import_module(package).COMPONENT
        except (ImportError, AttributeError) as exc:
            raise RegistryError(f"component package {package!r} cannot be loaded: {exc}") from exc
        components.append(component)
    _check_distinct(components)
    return tuple(components)


def _check_distinct(components):
    for attribute in ("name", "default_port", "table"):
        seen = {}
        for component in components:
            value = getattr(component, attribute)
            if value in seen:
                raise RegistryError(
                    f"components {seen[value]!r} and {component.name!r} have the same {attribute} "
                    f"{value!r}"
                )
            seen[value] = component.name


COMPONENTS = load()
NAMES = tuple(c.name for c in COMPONENTS)
BY_NAME = {c.name: c for c in COMPONENTS}

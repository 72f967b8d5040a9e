"""One registry mechanism for everything chosen by name: activations, losses, initializers, optimizers,
learning-rate schedules, backends, commands.

Entries carry their own facts (an activation's default initializer and scikit-learn name, the estimator
parameters an optimizer takes), so adding one is one ``register`` in one file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator


class Registry:
    """Entries of one ``kind`` by name, in the order registered; an unknown name is a ``ValueError`` that lists
    the valid ones."""

    def __init__(self, kind: str, plural: str | None = None, hint: str = ""):
        self.kind, self.plural, self.hint = kind, plural or f"{kind}s", hint
        self._entries: dict[str, object] = {}

    @classmethod
    def of(cls, kind: str, entries: dict, plural: str | None = None, hint: str = "") -> Registry:
        """A registry holding ``entries`` ({name: entry})."""
        registry = cls(kind, plural, hint)
        for name, entry in entries.items():
            registry.register(name, entry)
        return registry

    def register(self, name: str, *entry):
        """Add ``entry`` as ``name``; without ``entry``, a decorator that adds what it decorates."""
        if not entry:
            def decorator(value: Callable) -> Callable:
                self.register(name, value)
                return value
            return decorator
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry[0]
        return entry[0]

    def get(self, name: str, *default):
        """The entry called ``name``; ``ValueError`` naming the valid ones otherwise (``default``, if given)."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            if default:
                return default[0]
            hint = f" ({self.hint})" if self.hint else ""
            raise ValueError(f"unknown {self.kind} {name!r}; valid {self.plural} are "
                             f"{', '.join(self._entries)}{hint}") from None

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def items(self):
        return self._entries.items()

    def values(self):
        return self._entries.values()

    def __getitem__(self, name: str):
        return self._entries[name]

    def __setitem__(self, name: str, entry) -> None:  # replacing an entry: for tests
        self._entries[name] = entry

    def __delitem__(self, name: str) -> None:
        del self._entries[name]

    def __contains__(self, name) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._entries)})"

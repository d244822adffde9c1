"""Who a piece of the console's news is for: a rule on the user, not a list of names,
so that every server of a centre picks the receivers among its own tabs (each by the
account as that server last read it), and a message can say it in JSON. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .models import Role, User


@dataclass(frozen=True, slots=True)
class Audience:
    """The users of at least ``role`` who cover ``car_park`` (None: whichever they cover)."""

    car_park: str | None = None
    role: Role = Role.AGENT

    def includes(self, user: User) -> bool:
        if not user.role.allows(self.role):
            return False
        return self.car_park is None or user.covers(self.car_park)

    def to_json(self) -> dict[str, Any]:
        return {"car_park": self.car_park, "role": self.role.value}

    @classmethod
    def from_json(cls, value: object) -> Audience:
        """Raises ``ValueError`` for anything ``to_json`` does not make."""
        if not isinstance(value, dict) or set(value) != {"car_park", "role"}:
            raise ValueError("an audience is {car_park, role}")
        car_park, role = value["car_park"], value["role"]
        if car_park is not None and not isinstance(car_park, str):
            raise ValueError("an audience's car_park is a string or null")
        if not isinstance(role, str) or role not in {r.value for r in Role}:
            raise ValueError(f"an audience's role is one of {[r.value for r in Role]}")
        return cls(car_park, Role(role))


SUPERVISORS = Audience(role=Role.SUPERVISOR)


def covering(car_park: str) -> Audience:
    """The users whose news ``car_park``'s is (``User.covers``)."""
    return Audience(car_park=car_park)

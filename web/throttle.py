"""Wrong-login throttling, kept in the database so every gunicorn worker sees the same counts.

Two counters, both counting wrong logins only:
- per account (the email typed, whether or not it exists): the first few are free, then each
  next try must wait twice as long as the last, up to a cap. Other accounts are untouched.
- per client address: a fixed window with a limit high enough for a classroom behind one NAT
  (every student may mistype a few times) that still stops a password spray from one host.
The client address is the TCP peer, or the X-Forwarded-For entry added by the nearest
untrusted hop when the peer is one of the configured trusted proxies.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import ipaddress

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .config import parse_rate
from .db import UTCDateTime
from .models import LoginThrottle

THROTTLE = LoginThrottle.__table__


@dataclasses.dataclass(frozen=True)
class Policy:
    account_free_failures: int
    backoff_max_s: int
    failure_memory_s: int
    address_limit: int
    address_window_s: int

    @classmethod
    def from_config(cls, config) -> "Policy":
        limit, window = parse_rate(config["LOGIN_ADDRESS_LIMIT"])
        return cls(config["LOGIN_ACCOUNT_FREE_FAILURES"], config["LOGIN_BACKOFF_MAX_S"],
                   config["LOGIN_FAILURE_MEMORY_S"], limit, window)

    def backoff_s(self, failures: int) -> int:
        """Wait after `failures` wrong passwords on one account: 0 for the free ones, then 1 s,
        2 s, 4 s ... up to the cap."""
        if failures < self.account_free_failures:
            return 0
        return min(self.backoff_max_s, 2 ** min(failures - self.account_free_failures, 30))

    def describe(self) -> str:
        return (f"After {self.account_free_failures} wrong passwords for an account, each next try on that "
                f"account waits twice as long as the last (up to {_duration(self.backoff_max_s)}); other "
                f"accounts are not affected. One network address may make {self.address_limit} wrong logins "
                f"per {_duration(self.address_window_s)}.")


@dataclasses.dataclass(frozen=True)
class Refusal:
    message: str
    wait_s: int


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} hour{'s' if seconds != 3600 else ''}"
    if seconds >= 120 and seconds % 60 == 0:
        return f"{seconds // 60} minutes"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


# --- the client address ---------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def trusted_networks(spec: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    try:
        return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in spec.split(",") if part.strip())
    except ValueError as exc:
        raise ValueError(f"DLGRADE_TRUSTED_PROXIES: {exc}; list addresses or networks, e.g. 10.0.0.0/8") from None


def _parse_ip(text: str):
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def client_address(peer: str, forwarded_for: list[str], trusted_proxies: str) -> str:
    """The address to throttle: X-Forwarded-For is believed only from a trusted peer, and only
    up to the first hop that is not itself a trusted proxy (entries left of it are whatever the
    client chose to send)."""
    networks = trusted_networks(trusted_proxies)
    peer_ip = _parse_ip(peer or "")
    if peer_ip is None:
        return peer or "unknown"

    def trusted(ip) -> bool:
        return any(ip in network for network in networks)

    if not trusted(peer_ip):
        return str(peer_ip)
    hops = [hop for header in forwarded_for for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        hop_ip = _parse_ip(hop)
        if hop_ip is None:
            break  # garbage from here on: keep the last address a trusted proxy vouched for
        if not trusted(hop_ip):
            return str(hop_ip)
        peer_ip = hop_ip
    return str(peer_ip)


def address_subject(address: str) -> str:
    """IPv6 hosts get a whole /64 each, so the limit applies to the /64."""
    ip = _parse_ip(address)
    if ip is None:
        return address[:254]
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


# --- counting -------------------------------------------------------------------------------


def _row(session: Session, scope: str, subject: str):
    return session.execute(sa.select(THROTTLE).where(THROTTLE.c.scope == scope, THROTTLE.c.subject == subject)).first()


def check(session: Session, *, email: str, address: str, policy: Policy, now: dt.datetime) -> Refusal | None:
    """Why this login may not be tried now, or None. Checked before the password is looked at,
    so a throttled try reveals nothing about the password."""
    account = _row(session, "account", email[:254])
    if account is not None and now - account.last_failure_at < dt.timedelta(seconds=policy.failure_memory_s):
        ready_at = account.last_failure_at + dt.timedelta(seconds=policy.backoff_s(account.failures))
        if ready_at > now:
            wait = _ceil_s(ready_at - now)
            return Refusal(f"Too many wrong passwords for this account: wait {_duration(wait)} before the next "
                           f"try.", wait)
    by_address = _row(session, "address", address_subject(address))
    if by_address is not None and by_address.failures >= policy.address_limit:
        window_ends = by_address.window_started_at + dt.timedelta(seconds=policy.address_window_s)
        if window_ends > now:
            wait = _ceil_s(window_ends - now)
            return Refusal(f"Too many wrong logins from your network address ({policy.address_limit} per "
                           f"{_duration(policy.address_window_s)}): wait {_duration(wait)}.", wait)
    return None


def record_failure(session: Session, *, email: str, address: str, policy: Policy, now: dt.datetime) -> None:
    memory = dt.timedelta(seconds=policy.failure_memory_s)
    _count(session, "account", email[:254], now, stale=THROTTLE.c.last_failure_at < now - memory)
    window = dt.timedelta(seconds=policy.address_window_s)
    _count(session, "address", address_subject(address), now, stale=THROTTLE.c.window_started_at < now - window)


def _count(session: Session, scope: str, subject: str, now: dt.datetime, *, stale) -> None:
    """One more failure, atomically (concurrent workers each add theirs); a stale counter restarts."""
    now_value = sa.literal(now, UTCDateTime())
    update = sa.update(THROTTLE).where(THROTTLE.c.scope == scope, THROTTLE.c.subject == subject).values(
        failures=sa.case((stale, 1), else_=THROTTLE.c.failures + 1),
        window_started_at=sa.case((stale, now_value), else_=THROTTLE.c.window_started_at),
        last_failure_at=now)
    if session.execute(update).rowcount:
        return
    try:
        with session.begin_nested():
            session.execute(sa.insert(THROTTLE).values(scope=scope, subject=subject, failures=1,
                                                       window_started_at=now, last_failure_at=now))
    except IntegrityError:  # another worker inserted it first
        session.execute(update)


def forget_account(session: Session, email: str) -> None:
    """A correct password clears the account's counter (the address counter keeps running)."""
    session.execute(sa.delete(THROTTLE).where(THROTTLE.c.scope == "account", THROTTLE.c.subject == email[:254]))


def prune(session: Session, *, policy: Policy, now: dt.datetime) -> None:
    horizon = dt.timedelta(seconds=max(policy.failure_memory_s, policy.address_window_s))
    session.execute(sa.delete(THROTTLE).where(THROTTLE.c.last_failure_at < now - horizon))


def _ceil_s(delta: dt.timedelta) -> int:
    return max(1, int(-(-delta.total_seconds() // 1)))

"""Readiness: wait until every service of a launch is healthy, or name the one that is not.

A service is ready when ``/health`` answers 200. The gateway (and nginx in front of it) answers 503
while a component is down; that still counts as ready when the only components down are the ones
the configuration disabled, since those never come up.
"""

import logging
import os
import time

import requests

from unified_api_server.launcher.config import client_host, programs
from unified_api_server.launcher.processes import LaunchError, tail
from unified_api_server.registry import COMPONENTS

log = logging.getLogger(__name__)

_GIVEN_UP = ("FATAL", "EXITED", "STOPPED")  # supervisord states a program does not leave by itself


def health_urls(plan):
    """Return ``{program: health URL}`` for every process of every enabled service."""
    return {
        program: f"http://{client_host(plan[service]['host'])}:{port}/health"
        for program, service, port in programs(plan)
    }


def down_components(response):
    """Return the set of component names a gateway /health body reports as down, or None."""
    try:
        body = response.json()
    except ValueError:
        return None
    components = body.get("components") if isinstance(body, dict) else None
    if not isinstance(components, dict):
        return None
    down = set()
    for name, state in components.items():
        status = state.get("status") if isinstance(state, dict) else state
        ok = state.get("ok") if isinstance(state, dict) else None
        if ok is False or (ok is None and status not in ("ok", "up", 200, "healthy")):
            down.add(name)
    return down


def check_health(plan, name, url, session):
    """Return (healthy, detail) for service ``name`` at health ``url``."""
    try:
        response = session.get(url, timeout=2)
    except requests.RequestException as exc:
        return False, f"no answer from {url} ({type(exc).__name__})"
    if response.status_code == 200:
        return True, "ok"
    if name.split("-")[0] in ("gateway", "nginx") and response.status_code == 503:
        down = down_components(response)
        disabled = {c.name for c in COMPONENTS if not plan[c.service]["enabled"]}
        if down is not None and down and down <= disabled:
            return True, "ok (disabled components down)"
    return False, f"{url} answered {response.status_code}"


def failure_message(suite, name, reason):
    """Return why ``name`` failed to start, with the tail of its log."""
    path = suite.log_path(name)
    text = tail(path)
    message = f"{name} failed to start ({reason})"
    if text:
        message += f"\n--- last lines of {path} ---\n{text}\n---"
    return message


def wait_healthy(suite, timeout, stop_requested):
    """Wait until every service of ``suite`` is healthy; raise LaunchError naming one that isn't."""
    deadline = time.monotonic() + timeout
    pending = health_urls(suite.plan)
    details = {}
    with requests.Session() as session:
        session.trust_env = False  # a proxy from the environment must not answer for localhost
        while pending:
            _check_still_starting(suite, pending, stop_requested)
            for name in list(pending):
                healthy, details[name] = check_health(suite.plan, name, pending[name], session)
                if healthy:
                    log.info("%s is healthy (%s)", name, pending.pop(name))
            if not pending:
                break
            if time.monotonic() > deadline:
                name = next(iter(pending))
                reason = f"not healthy after {timeout:.0f} s: {details.get(name)}"
                raise LaunchError(failure_message(suite, name, reason))
            time.sleep(0.25)


def _check_still_starting(suite, pending, stop_requested):
    """Raise LaunchError if a stop was requested, supervisord died or a pending program gave up."""
    if stop_requested():
        raise LaunchError("interrupted while starting")
    if not suite.alive():
        raise LaunchError(
            "supervisord exited while starting:\n"
            + tail(os.path.join(suite.run_dir, "supervisord.out"))
        )
    states = suite.program_states()
    for name in pending:
        info = states.get(name)
        if info and info["statename"] in _GIVEN_UP:
            reason = f"{info['statename']}: {info.get('description') or ''}"
            raise LaunchError(failure_message(suite, name, reason))

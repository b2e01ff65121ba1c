"""The decision function `decide`, as a table of cases: each role x each action (with and
without grants), scopes that match and scopes that do not, validity boundaries to the
microsecond, habilitation expiry, disabled accounts, landlords, investigators' case
reference, auditors and administrators."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from guetteur.domain.permissions import (
    ACTIONS,
    GRANT_ACTIONS,
    GRANTABLE,
    ROLES,
    CameraRef,
    Grant,
    Principal,
    can,
    decide,
)

T = 1_795_638_600_000_000  # 2026-11-25T20:30:00Z
S = 1_000_000
HOUR = 3600 * S

CITY = CameraRef(1, site="Centre", owner="city")
TILLEULS = CameraRef(2, site="Les Tilleuls", owner="Habitat 77", partner_id=7)
LILAS = CameraRef(3, site="Les Lilas", owner="Logis Sud", partner_id=8)
BARE = CameraRef(4)  # no site, the city's: what the gate decides for an unknown id


def user(role: str, **changes: object) -> Principal:
    who = Principal(10, f"{role}-1", role, partner_id=7 if role == "landlord" else None)
    return replace(who, **changes)  # type: ignore[arg-type]


EVERY_GRANT = tuple(Grant(a, id=i) for i, a in enumerate(GRANT_ACTIONS, start=1))


@dataclass(frozen=True)
class Case:
    id: str
    who: Principal
    grants: tuple[Grant, ...]
    action: str
    camera: CameraRef | None
    allowed: bool
    reason: str | None = None  # a fragment of the decision's reason
    needs_case: bool = False
    at: int = T


# -- each role x each action ------------------------------------------------------------------
# What each role may do on a camera (the landlord: its partner's), with a grant for every
# grantable action on all cameras, and with no grant at all. "case": allowed with a case ref.
WITH_GRANTS = {
    "admin":        {"live": 1, "playback": 1, "export": 1, "ptz": 1, "configure": 1,
                     "audit": 0, "health": 1},
    "supervisor":   {"live": 1, "playback": 1, "export": 1, "ptz": 1, "configure": 0,
                     "audit": 1, "health": 1},
    "operator":     {"live": 1, "playback": 1, "export": 0, "ptz": 1, "configure": 0,
                     "audit": 0, "health": 1},
    "investigator": {"live": 0, "playback": "case", "export": "case", "ptz": 0,
                     "configure": 0, "audit": 0, "health": 1},
    "landlord":     {"live": 0, "playback": 0, "export": 0, "ptz": 0, "configure": 0,
                     "audit": 0, "health": 1},
    "auditor":      {"live": 0, "playback": 0, "export": 0, "ptz": 0, "configure": 0,
                     "audit": 1, "health": 1},
}
WITHOUT_GRANTS = {
    "admin":        {"configure", "health"},
    "supervisor":   set(),
    "operator":     set(),
    "investigator": set(),
    "landlord":     {"health"},
    "auditor":      {"audit", "health"},
}


def role_cases() -> list[Case]:
    cases = []
    for role in ROLES:
        camera = TILLEULS if role == "landlord" else CITY
        for action in ACTIONS:
            expected = WITH_GRANTS[role][action]
            cases.append(Case(f"{role}-{action}-granted", user(role), EVERY_GRANT, action,
                              camera, bool(expected), needs_case=expected == "case"))
            cases.append(Case(f"{role}-{action}-no-grant", user(role), (), action, camera,
                              action in WITHOUT_GRANTS[role]))
    return cases


def test_the_role_table_is_the_module_s_table() -> None:
    for role in ROLES:
        granted = {a for a in GRANT_ACTIONS if WITH_GRANTS[role][a]} - {"configure", "audit"}
        assert granted == set(GRANTABLE[role]) - {"audit"}, role
    assert set(WITH_GRANTS) == set(WITHOUT_GRANTS) == set(ROLES)
    assert all(set(row) == set(ACTIONS) for row in WITH_GRANTS.values())


# -- scopes -----------------------------------------------------------------------------------

def scope_cases() -> list[Case]:
    op = user("operator")
    rows = [
        ("all-city", Grant("live"), CITY, True),
        ("all-partner", Grant("live"), TILLEULS, True),
        ("all-no-camera", Grant("live"), None, True),
        ("site-match", Grant("live", "site", "Centre"), CITY, True),
        ("site-other", Grant("live", "site", "Centre"), TILLEULS, False),
        ("site-camera-without-site", Grant("live", "site", "Centre"), BARE, False),
        ("site-no-camera", Grant("live", "site", "Centre"), None, False),
        ("site-case-sensitive", Grant("live", "site", "centre"), CITY, False),
        ("owner-city-match", Grant("live", "owner", "city"), CITY, True),
        ("owner-city-unknown-camera", Grant("live", "owner", "city"), BARE, True),
        ("owner-city-other", Grant("live", "owner", "city"), TILLEULS, False),
        ("owner-partner-match", Grant("live", "owner", "Habitat 77"), TILLEULS, True),
        ("owner-partner-other", Grant("live", "owner", "Habitat 77"), LILAS, False),
        ("owner-no-camera", Grant("live", "owner", "city"), None, False),
        ("cameras-match-first", Grant("live", "cameras", "1,3"), CITY, True),
        ("cameras-match-last", Grant("live", "cameras", "1,3"), LILAS, True),
        ("cameras-other", Grant("live", "cameras", "1,3"), TILLEULS, False),
        ("cameras-spaces", Grant("live", "cameras", " 1 , 3 "), LILAS, True),
        ("cameras-no-prefix-match", Grant("live", "cameras", "12,31"), CITY, False),
        ("cameras-exact-id", Grant("live", "cameras", "12,31"), CameraRef(31), True),
        ("cameras-empty", Grant("live", "cameras", ""), CITY, False),
        ("cameras-none", Grant("live", "cameras", None), CITY, False),
        ("cameras-junk", Grant("live", "cameras", "un,deux"), CITY, False),
        ("cameras-no-camera", Grant("live", "cameras", "1"), None, False),
        ("unknown-scope-kind", Grant("live", "region", "Centre"), CITY, False),
        ("other-action", Grant("playback"), CITY, False),
    ]
    return [Case(f"scope-{name}", op, (grant,), "live", camera, allowed)
            for name, grant, camera, allowed in rows]


# -- validity: [valid_from, valid_until) to the microsecond -----------------------------------

FROM, UNTIL = T - HOUR, T + HOUR


def validity_cases() -> list[Case]:
    op = user("operator")
    window = Grant("live", valid_from_utc_us=FROM, valid_until_utc_us=UNTIL)
    from_only = Grant("live", valid_from_utc_us=FROM)
    until_only = Grant("live", valid_until_utc_us=UNTIL)
    rows = [
        ("before-from", window, FROM - 1, False),
        ("at-from-inclusive", window, FROM, True),
        ("inside", window, T, True),
        ("1us-before-until", window, UNTIL - 1, True),
        ("at-until-exclusive", window, UNTIL, False),
        ("after-until", window, UNTIL + 1, False),
        ("from-only-before", from_only, FROM - 1, False),
        ("from-only-at", from_only, FROM, True),
        ("from-only-years-later", from_only, T + 10 * 365 * 24 * HOUR, True),
        ("until-only-long-before", until_only, 0, True),
        ("until-only-1us-before", until_only, UNTIL - 1, True),
        ("until-only-at", until_only, UNTIL, False),
    ]
    cases = [Case(f"validity-{name}", op, (grant,), "live", CITY, allowed,
                  None if allowed else "no valid grant", at=at)
             for name, grant, at, allowed in rows]
    # an expired grant next to a valid one: the valid one decides
    expired = Grant("live", valid_until_utc_us=T, id=1)
    current = Grant("live", valid_from_utc_us=T, id=2)
    cases.append(Case("validity-expired-and-current", op, (expired, current), "live", CITY,
                      True, at=T))
    return cases


# -- habilitation: every image right ends the microsecond it passes ---------------------------

H = T + 2 * HOUR


def habilitation_cases() -> list[Case]:
    forever = (Grant("live", id=1), Grant("playback", id=2), Grant("export", id=3),
               Grant("ptz", id=4))
    rows = []
    for role, action in (("operator", "live"), ("operator", "playback"), ("operator", "ptz"),
                         ("supervisor", "export"), ("admin", "live"),
                         ("investigator", "playback"), ("investigator", "export")):
        who = user(role, habilitation_until_utc_us=H)
        rows += [
            Case(f"habilitation-{role}-{action}-1us-before", who, forever, action, CITY, True,
                 needs_case=role == "investigator", at=H - 1),
            Case(f"habilitation-{role}-{action}-at-expiry", who, forever, action, CITY, False,
                 "habilitation expired", at=H),
            Case(f"habilitation-{role}-{action}-after", who, forever, action, CITY, False,
                 "habilitation expired", at=H + HOUR),
        ]
    expired = user("operator", habilitation_until_utc_us=H)
    rows.append(Case("habilitation-expired-no-health-either", expired, forever, "health", CITY,
                     False, at=H))
    admin = user("admin", habilitation_until_utc_us=H)
    rows.append(Case("habilitation-expired-admin-still-configures", admin, (), "configure",
                     None, True, at=H))
    auditor = user("auditor", habilitation_until_utc_us=H)
    rows.append(Case("habilitation-expired-auditor-still-audits", auditor, (), "audit", None,
                     True, at=H))
    return rows


# -- disabled accounts, landlords, investigators, auditors, administrators --------------------

def special_cases() -> list[Case]:
    cases = []
    for role in ROLES:
        camera = TILLEULS if role == "landlord" else CITY
        for action in ACTIONS:
            cases.append(Case(f"disabled-{role}-{action}", user(role, enabled=False),
                              EVERY_GRANT, action, camera, False, "account disabled"))
    landlord = user("landlord")
    pixel_grants = (Grant("live", id=1), Grant("playback", id=2), Grant("export", id=3),
                    Grant("live", "cameras", "2", id=4), Grant("live", "owner", "Habitat 77",
                                                                id=5))
    cases += [
        Case("landlord-health-own-partner", landlord, (), "health", TILLEULS, True,
             "own partner"),
        Case("landlord-health-other-partner", landlord, (), "health", LILAS, False,
             "not this partner"),
        Case("landlord-health-city-camera", landlord, (), "health", CITY, False),
        Case("landlord-health-no-camera", landlord, (), "health", None, False),
        Case("landlord-without-partner-city-camera", user("landlord", partner_id=None), (),
             "health", CITY, False),
        Case("landlord-health-even-with-grant-objects", landlord, pixel_grants, "health",
             LILAS, False),
    ]
    for action in ("live", "playback", "export", "ptz", "configure", "audit"):
        for camera in (TILLEULS, LILAS, CITY, None):
            name = camera.site if camera else "none"
            cases.append(Case(f"landlord-{action}-with-grant-objects-{name}", landlord,
                              pixel_grants, action, camera, False, "health only"))

    investigator = user("investigator", habilitation_until_utc_us=H)
    scoped = (Grant("playback", "site", "Centre", id=1), Grant("export", "site", "Centre", id=2))
    cases += [
        Case("investigator-playback-needs-case", investigator, scoped, "playback", CITY, True,
             "granted", needs_case=True),
        Case("investigator-export-needs-case", investigator, scoped, "export", CITY, True,
             needs_case=True),
        Case("investigator-outside-its-scope", investigator, scoped, "playback", TILLEULS,
             False),
        Case("investigator-never-live", investigator, (Grant("live"),), "live", CITY, False,
             "cannot live"),
        Case("operator-playback-needs-no-case", user("operator"), (Grant("playback"),),
             "playback", CITY, True, needs_case=False),
        Case("supervisor-export-needs-no-case", user("supervisor"), (Grant("export"),),
             "export", CITY, True, needs_case=False),

        Case("auditor-audit-without-camera", user("auditor"), (), "audit", None, True),
        Case("auditor-audit-on-a-camera", user("auditor"), (), "audit", TILLEULS, True),
        Case("auditor-no-pixel-even-with-grant-objects", user("auditor"), EVERY_GRANT,
             "playback", CITY, False, "cannot playback"),
        Case("supervisor-audit-with-grant", user("supervisor"), (Grant("audit"),), "audit",
             None, True),
        Case("supervisor-audit-grant-expired", user("supervisor"),
             (Grant("audit", valid_until_utc_us=T),), "audit", None, False, at=T),
        Case("operator-audit-even-with-grant-object", user("operator"), (Grant("audit"),),
             "audit", None, False),

        Case("admin-configure-without-grant", user("admin"), (), "configure", None, True),
        Case("admin-configure-a-camera", user("admin"), (), "configure", TILLEULS, True),
        Case("admin-no-pixel-without-grant", user("admin"), (), "live", CITY, False,
             "no valid grant"),
        Case("admin-no-playback-with-a-live-grant", user("admin"), (Grant("live"),),
             "playback", CITY, False),
        Case("admin-pixel-with-grant", user("admin"), (Grant("export"),), "export", CITY,
             True),
        Case("admin-health-without-grant", user("admin"), (), "health", LILAS, True),
        Case("supervisor-never-configures", user("supervisor"), EVERY_GRANT, "configure",
             None, False),
        Case("operator-health-of-a-granted-camera", user("operator"),
             (Grant("playback", "cameras", "1"),), "health", CITY, True),
        Case("operator-no-health-of-another-camera", user("operator"),
             (Grant("playback", "cameras", "1"),), "health", TILLEULS, False),
        Case("operator-no-health-from-a-ptz-grant", user("operator"), (Grant("ptz"),),
             "health", CITY, False),

        Case("unknown-action", user("admin"), EVERY_GRANT, "delete", CITY, False,
             "unknown action"),
        Case("unknown-role", user("root"), EVERY_GRANT, "live", CITY, False, "unknown role"),
    ]
    return cases


CASES = role_cases() + scope_cases() + validity_cases() + habilitation_cases() + special_cases()


def test_case_ids_are_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_decide(case: Case) -> None:
    decision = decide(case.who, case.grants, case.action, case.camera, case.at)
    assert decision.allowed is case.allowed, decision.reason
    assert bool(decision) is case.allowed
    assert can(case.who, case.grants, case.action, case.camera, case.at) is case.allowed
    if case.reason is not None:
        assert case.reason in decision.reason
    assert decision.needs_case is case.needs_case
    if not case.allowed:
        assert decision.grant_ids == ()


def test_an_allowed_decision_names_every_matching_grant() -> None:
    grants = (Grant("live", "site", "Centre", id=4), Grant("live", "cameras", "2", id=5),
              Grant("live", "cameras", "1", id=6), Grant("playback", id=7),
              Grant("live", valid_until_utc_us=T, id=8))
    decision = decide(user("operator"), grants, "live", CITY, T)
    assert decision.allowed and decision.grant_ids == (4, 6)


def test_grants_can_be_any_iterable() -> None:
    grants = (g for g in [Grant("live", id=1)])
    assert decide(user("operator"), grants, "live", CITY, T).grant_ids == (1,)


def test_health_from_grants_given_as_a_one_shot_iterable() -> None:
    """Health is decided from the viewing actions in turn: an iterator of grants must not be
    used up by the first of them."""
    grants = iter([Grant("playback", id=1)])
    assert decide(user("operator"), grants, "health", CITY, T).allowed

"""Helpers shared by the benchmark scripts: machine description, CPU and memory accounting of
process trees, percentiles and plain-text tables.

Benchmarks print what they measured, side by side with a baseline measured in the same run;
nothing here decides whether a figure is good. CPU figures are psutil `cpu_times` deltas
(user + system) over a measurement window; memory is PSS for child processes (shared pages
split between the processes that share them) and USS for a Python process (its private pages).
"""

from __future__ import annotations

import math
import os
import platform
import re
import shutil
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
if str(TESTS) not in sys.path:  # tests/support.py: SimulatedCameras, ServerProcess, free_port
    sys.path.insert(0, str(TESTS))


def machine() -> str:
    """One line: cores, CPU model, RAM, kernel, load average (other work on the machine)."""
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gib = psutil.virtual_memory().total / 2**30
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"nproc={os.cpu_count()}, CPU={model}, RAM={ram_gib:.1f} GiB, "
            f"kernel={platform.release()}, load average before the run: {load}")


def code_version() -> str:
    """The commit measured, and whether src/ had uncommitted changes."""
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                              check=False).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "src")
    return f"code: {commit}{' + uncommitted changes in src/' if dirty else ''}"


def free_disk_gib(path: Path) -> float:
    return shutil.disk_usage(path).free / 2**30


def cpu_s(proc: psutil.Process) -> float:
    """user + system CPU seconds of one process (not its children)."""
    t = proc.cpu_times()
    return float(t.user + t.system)


@dataclass
class TreeSnapshot:
    """CPU seconds of a parent and of its children named `child_name`, at one instant."""

    at: float
    parent_s: float
    reaped_children_s: float  # children already waited for (cutime + cstime)
    children: dict[int, float] = field(default_factory=dict)


class TreeMeter:
    """CPU time of a parent process and of its children of one name (e.g. every ffmpeg),
    including children that end during the window.

    Children that end and are reaped during the window show up in the parent's
    `children_user/children_system` with their whole lifetime, so the part they used before
    the window (their CPU at the first snapshot) is taken off again.
    """

    def __init__(self, parent: psutil.Process, child_name: str, count_parent: bool,
                 exclude: Iterable[int] = ()) -> None:
        self.parent = parent
        self.child_name = child_name
        self.count_parent = count_parent
        self.exclude = set(exclude)

    def children(self) -> list[psutil.Process]:
        out = []
        for p in self.parent.children(recursive=False):
            try:
                if p.pid not in self.exclude and p.name() == self.child_name:
                    out.append(p)
            except psutil.NoSuchProcess:
                continue
        return out

    def snapshot(self) -> TreeSnapshot:
        t = self.parent.cpu_times()
        kids: dict[int, float] = {}
        for p in self.children():
            try:
                kids[p.pid] = cpu_s(p)
            except psutil.NoSuchProcess:
                continue
        return TreeSnapshot(time.monotonic(), float(t.user + t.system),
                            float(t.children_user + t.children_system), kids)

    @staticmethod
    def delta(a: TreeSnapshot, b: TreeSnapshot, count_parent: bool) -> tuple[float, int, int]:
        """(CPU seconds used between a and b, children started, children ended)."""
        total = b.reaped_children_s - a.reaped_children_s
        ended = [pid for pid in a.children if pid not in b.children]
        total -= sum(a.children[pid] for pid in ended)
        total += sum(v - a.children.get(pid, 0.0) for pid, v in b.children.items())
        if count_parent:
            total += b.parent_s - a.parent_s
        started = sum(1 for pid in b.children if pid not in a.children)
        return total, started, len(ended)

    def memory_bytes(self) -> tuple[int, int]:
        """(sum of the children's PSS, the parent's USS)."""
        pss = 0
        for p in self.children():
            try:
                pss += int(p.memory_full_info().pss)
            except psutil.NoSuchProcess:
                continue
        uss = int(self.parent.memory_full_info().uss) if self.count_parent else 0
        return pss, uss


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sequence."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (readable in a terminal, pasteable into RESULTS.md)."""
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"
             for r in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def command_line() -> str:
    """The command as run, with the interpreter relative to the repository when inside it."""
    exe = sys.executable
    if exe.startswith(str(REPO) + os.sep):
        exe = os.path.relpath(exe, REPO)
    return " ".join([exe, *sys.argv])


# --------------------------------------------------------------------- logging in

_CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
_SECRET_RE = re.compile(r'id="totp-secret"[^>]*>\s*([A-Z2-7]+)\s*<')


def totp_now(secret: str) -> str:
    import pyotp

    return str(pyotp.TOTP(secret).now())


def http_login(client: Any, username: str, password: str) -> None:
    """Log an httpx client in through the real forms: password, then the second factor.
    An account that can see images enrols its TOTP at first login: the secret is read on the
    enrolment page, as a user would type it into an authenticator app."""
    r = client.post("/login", data={"username": username, "password": password, "next": "/"})
    if r.status_code != 303:
        raise RuntimeError(f"login: HTTP {r.status_code}")
    location = r.headers["location"]
    if location.startswith("/login/enrol"):
        page = client.get(location).text
        csrf, secret = _CSRF_RE.search(page), _SECRET_RE.search(page)
        if csrf is None or secret is None:
            raise RuntimeError("enrolment page without csrf_token or TOTP secret")
        r = client.post("/login/enrol", data={"code": totp_now(secret.group(1)),
                                              "csrf_token": csrf.group(1), "next": "/"})
        if r.status_code != 303:
            raise RuntimeError(f"TOTP enrolment: HTTP {r.status_code}")
    elif location.startswith("/login/mfa"):
        raise RuntimeError("the account already has a second factor: use a fresh account")


def browser_login(page: Any, username: str, password: str) -> None:
    """The same through the pages in Chromium (Playwright sync API)."""
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", password)
    with page.expect_navigation():
        page.click("button[type=submit]")
    if "/login/enrol" in page.url:
        secret = page.locator("#totp-secret").inner_text().strip()
        page.fill("#code", totp_now(secret))
        with page.expect_navigation():
            page.click("#enrol-form button[type=submit]")
    if "/login" in page.url:
        raise RuntimeError(f"still on {page.url} after logging in")


def bench_case(c: Any, username: str, password: str, role: str, full_name: str,
               grants: Sequence[str], reference: str, description: str) -> tuple[Any, Any]:
    """The benchmark's requester (an account with `grants` on every camera) and a case it
    sees: (principal, case view)."""
    who = c.accounts.add_user(username, password, role, full_name=full_name)
    for action in grants:
        c.grants.add(username, action)
    case = c.cases.create(who, reference=reference, service="Commissariat central — BSU",
                          officer="Lt Martin", requisition_date="2026-11-25",
                          legal_basis="art. 60-1 CPP (flagrance)", description=description)
    return who, case

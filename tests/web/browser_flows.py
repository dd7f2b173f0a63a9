"""The browser scenarios of ``test_web_browser.py``, each run in a process of its own.

``python -m tests.web.browser_flows FLOW OUTPUT_DIR`` starts a sandbox and ``importer serve`` on
loopback, drives Debian's chromium through Playwright (headless) and exits 0 when every check
holds (a failed check: its traceback and exit 1). The test runs it under a deadline and kills the
whole process group when the deadline passes: a browser that hangs cannot hang the suite.
"""

from __future__ import annotations

import csv
import re
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from importer.core import ApiSettings
from importer.sandbox import SandboxConfig, SandboxServer

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREEN = {"width": 1366, "height": 768}
FLAG = re.compile(r"(?<![\w-])--[a-z]")

#: An ADP "New Hire Report": three title lines, the header on row 4, departments written once per
#: group (blank below), one department misspelt in two rows, one person not on the account, one
#: already placed (row 13: Liam Tanaka holds membership 9002 in United Kingdom / Engineering).
ADP_HEADER = [
    "Payroll Name",
    "Position ID",
    "File Number",
    "Home Department Description",
    "Location Description",
    "Work Contact: Work Email",
    "Hire Date",
]
ADP_ROWS = [
    ["Hannah Bianchi", "Engineering", "United Kingdom", "hannah.bianchi@acme.example"],
    ["Omar Stewart", "", "United Kingdom", "omar.stewart@acme.example"],
    ["Elena Garcia", "", "United Kingdom", "elena.garcia@acme.example"],
    ["Felix Silva", "Sales", "Germany", "felix.silva@acme.example"],
    ["Grace Fischer", "", "Germany", "grace.fischer@acme.example"],
    ["Yusuf Jensen", "Engneering", "United States", "yusuf.jensen@acme.example"],
    ["Nina Ferrari", "Engneering", "United States", "nina.ferrari@acme.example"],
    ["Oscar Ahmed", "Design", "Singapore", "oscar.ahmed@acme.example"],
    ["Liam Tanaka", "Engineering", "United Kingdom", "liam.tanaka@acme.example"],
    ["Temp Worker", "Sales", "Germany", "temp.worker@agency.example"],
    ["Leila Reyes", "Marketing", "Germany", "leila.reyes@acme.example"],
]


def write_adp_csv(path: Path) -> Path:
    """The ADP-like export above, as ADP writes it (CSV, title lines first)."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerows([["New Hire Report"], ["Acme Corp - Company Code ACM"], ["Run: 11/30/2026"]])
        out.writerow(ADP_HEADER)
        for i, (name, dept, place, email) in enumerate(ADP_ROWS):
            out.writerow([name, f"ACM{i:05d}", f"{900100 + i}", dept, place, email, "11/02/2026"])
    return path


@contextmanager
def served(work: Path, sandbox: SandboxServer, **web: Any) -> Iterator[str]:
    """``importer serve`` on a free loopback port, sending to ``sandbox``; its URL."""
    import uvicorn

    from importer.web import WebConfig, bind_loopback, create_app

    sock = bind_loopback(0)
    api = ApiSettings(
        base_url=sandbox.base_url, token=sandbox.token, server_time_limit=2.0, concurrency=2
    )
    config = WebConfig(work, api=api, port=sock.getsockname()[1], **web)
    server = uvicorn.Server(uvicorn.Config(create_app(config), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield config.url()
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def check_screen(page: Any, step: str) -> None:
    """The page fits 1366 px (no sideways scrolling, the problem column whole) and says no
    command-line flag."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= SCREEN["width"], f"{step}: the page is {width} px wide"
    text = page.locator("body").inner_text()
    assert not FLAG.search(text), f"{step}: a command-line flag on the page: {FLAG.search(text)}"
    for box in page.locator("table").evaluate_all(
        "ts => ts.filter(t => t.offsetParent).map(t => [t.id, t.getBoundingClientRect().right,"
        " t.scrollWidth, t.clientWidth])"
    ):
        name, right, scroll, client = box
        assert right <= SCREEN["width"], f"{step}: table {name} ends at {right} px"
        assert scroll <= client + 1, f"{step}: table {name} scrolls sideways"


def guided_adp(page: Any, url: str, out: Path) -> None:
    """The ADP export from upload to results and undo, with a screenshot of each step."""
    from playwright.sync_api import expect

    def shot(name: str, step: str | None = None) -> None:
        """What a 1366 x 768 screen shows with ``step`` scrolled to the top."""
        check_screen(page, name)
        if step is not None:
            page.evaluate(
                f"document.querySelector('#step-{step}').scrollIntoView({{behavior: 'instant'}})"
            )
        page.screenshot(path=out / f"{name}.png")

    adp = write_adp_csv(out.parent / "adp-new-hires.csv")
    page.goto(url)
    assert "key=" not in page.url  # the secret moved into a cookie
    shot("1-start")
    page.locator("#file").set_input_files(adp)
    page.wait_for_url("**/uploads/*")

    # 2. the header row: the rows above it are shown; row 4 holds the column names
    preview = page.locator("#preview tbody")
    expect(preview.locator("tr")).to_have_count(12)
    expect(preview.locator('tr[data-row="1"]')).to_contain_text("New Hire Report")
    expect(preview.locator('tr[data-row="4"]')).to_have_class(re.compile("header"))  # found
    expect(page.locator("#header-hint")).to_contain_text("found by the importer")
    preview.locator('tr[data-row="5"]').click()  # a wrong row, then the right one by a click
    expect(preview.locator('tr[data-row="5"]')).to_have_class(re.compile("header"))
    preview.locator('tr[data-row="4"]').click()
    expect(preview.locator('tr[data-row="4"]')).to_have_class(re.compile("header"))
    expect(page.locator("#header-hint")).to_contain_text("your choice")
    expect(preview.locator('tr[data-row="4"] td').first).to_have_text("Payroll Name")
    shot("2-header-row", "header")

    # 3. the columns, with examples and friendly names
    columns = page.locator("#columns tbody")
    expect(columns.locator("tr")).to_have_count(len(ADP_HEADER))
    expect(columns).to_contain_text("hannah.bianchi@acme.example")
    for header, label in (
        ("Home Department Description", "Department (name)"),
        ("Location Description", "Geography (name)"),
        ("Work Contact: Work Email", "Person's e-mail"),
    ):  # suggested by the importer, as the CLI would match them
        chosen = page.locator(f'#columns select[data-header="{header}"] option:checked')
        expect(chosen).to_have_text(label)
    expect(columns.locator("tr", has_text="File Number")).to_contain_text("HR number")
    expect(page.locator("#columns-problem")).to_be_hidden()
    expect(page.locator("body")).not_to_contain_text("member_email")
    expect(page.locator("body")).not_to_contain_text("geography_id")
    shot("3-columns", "columns")

    # 4. fix: 3 blanks to fill down, 2 misspelt departments, 1 person to leave out
    grid = page.locator("#grid tbody")
    expect(page.locator("#count-problems")).to_have_text("6")
    expect(grid.locator("tr")).to_have_count(6)
    shot("4-fix", "fix")
    page.locator("#fill-column").select_option("Home Department Description")
    page.locator("#fill").click()
    expect(page.locator("#fix-status")).to_contain_text("Filled 3 empty cells")
    expect(page.locator("#count-problems")).to_have_text("3")
    expect(grid.locator("tr")).to_have_count(3)
    page.locator("#replace-column").select_option("Home Department Description")
    page.locator("#find").fill("Engneering")
    page.locator("#replace-by").fill("Engineering")
    page.locator("#replace").click()
    expect(page.locator("#fix-status")).to_contain_text("Replaced 2 cells")
    expect(page.locator("#count-problems")).to_have_text("1")
    row = grid.locator('tr[data-row="14"]')
    expect(row.locator("td.problem")).to_contain_text("temp.worker@agency.example")
    row.locator("button[data-ignore]").click()
    expect(row).to_have_class(re.compile("ignored"))
    expect(page.locator("#count-problems")).to_have_text("0")
    expect(page.locator("#count-ready")).to_have_text("10")
    expect(page.locator("#count-ignored")).to_have_text("1")
    shot("4-fixed", "fix")

    # 5. check: the plan in words
    page.locator("#check").click()
    plan = page.locator("#plan-list")
    expect(plan.locator(".plan-create")).to_contain_text("9 will be created")
    expect(plan.locator(".plan-exists")).to_contain_text("1 is already there")
    expect(plan.locator(".plan-ignored")).to_contain_text("1 ignored by you")
    page.locator('#plan-list button[data-group="exists"]').click()
    expect(page.locator("#plan-rows tbody")).to_contain_text("liam.tanaka@acme.example")
    shot("5-check", "check")

    # 6. send, 7. results: names beside ids
    page.locator("#send").click()
    expect(page.locator("#run-state")).to_have_text("finished", timeout=60_000)
    results = page.locator("#outcomes tbody")
    expect(page.locator("#result-counts")).to_contain_text("9 created")
    expect(page.locator("#result-counts")).to_contain_text("1 already there")
    expect(page.locator("#result-counts")).to_contain_text("1 ignored")
    first = results.locator('tr[data-row="5"]')
    expect(first).to_contain_text("Hannah Bianchi <hannah.bianchi@acme.example> (user 10021)")
    expect(first).to_contain_text("United Kingdom")
    expect(first).to_contain_text("created")
    shot("6-results", "results")

    # undo: the rows it changed say so, the rest do not change
    page.once("dialog", lambda d: d.accept())
    page.locator("#undo").click()
    expect(page.locator("#run-state")).to_have_text("undone", timeout=60_000)
    expect(first.locator("td.outcome")).to_have_text("undone (deleted)")
    expect(results.locator('tr[data-row="13"] td.outcome')).to_have_text("already there")
    expect(page.locator("#result-counts")).to_contain_text("9 undone (deleted)")
    expect(page.locator("#result-counts")).not_to_contain_text("created")
    shot("7-undone", "results")


def two_tabs(page: Any, url: str, out: Path) -> None:
    """Two tabs press Send on the same upload: one run; the other tab says so and follows it."""
    from playwright.sync_api import expect

    adp = write_adp_csv(out.parent / "adp.csv")
    page.goto(url)
    page.locator("#file").set_input_files(adp)
    page.wait_for_url("**/uploads/*")
    expect(page.locator('#preview tr[data-row="4"]')).to_have_class(re.compile("header"))
    expect(page.locator("#columns-problem")).to_be_hidden()
    other = page.context.new_page()
    other.set_default_timeout(20_000)
    other.goto(page.url)
    expect(other.locator("#send")).to_be_enabled()
    page.locator("#send").click()
    expect(page.locator("#run-progress")).to_be_visible()
    other.locator("#send").click()
    expect(other.locator("#send-error")).to_contain_text("already running")
    expect(other.locator("#run-progress")).to_be_visible()
    other.evaluate("document.querySelector('#step-send').scrollIntoView({behavior: 'instant'})")
    other.screenshot(path=out / "two-tabs.png")
    for tab in (page, other):
        expect(tab.locator("#run-state")).to_have_text("finished", timeout=60_000)
    runs = page.evaluate("fetch('/api/runs').then(r => r.json())")["runs"]
    assert len(runs) == 1, runs
    counts = runs[0]["counts"]  # rows 5, 8, 12, 15 new, 13 already there; nothing sent twice
    assert (counts["created"], counts["already_existed"], counts["failed_remote"]) == (4, 1, 0)


FLOWS: dict[str, tuple[Callable[[Any, str, Path], None], dict[str, Any]]] = {
    "guided_adp": (guided_adp, {"latency_ms": 0}),
    "two_tabs": (two_tabs, {"latency_ms": 150}),
}


def main(flow: str, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    body, knobs = FLOWS[flow]
    out.mkdir(parents=True, exist_ok=True)
    work = out.parent / f"{flow}-work"
    with (
        SandboxServer(SandboxConfig(random_seed=7, request_time_limit_s=2.0, **knobs)) as box,
        served(work, box, batch_size=1 if knobs["latency_ms"] else 100) as url,
        sync_playwright() as pw,
    ):
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_context(viewport=SCREEN).new_page()
            page.set_default_timeout(20_000)
            body(page, url, out)
        finally:
            browser.close()


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))

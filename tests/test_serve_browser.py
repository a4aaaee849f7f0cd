"""`orchwatch serve` in a real headless Chromium (Debian's chromium and chromium-driver,
driven by selenium): the page loads, the app draws its first frame, a key typed in the
browser reaches the app (the help opens), an action key is refused (a viewer never acts);
each observed from the app's side, in the viewer log it writes. Both processes are
process groups registered with the suite's cleanup, so neither outlives it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from loopback.emulators import Emulator, free_port
from test_recording import HOUR, record_demo

from orchwatch.config import Config

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def events(log: Path) -> list[dict[str, str]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def wait_for(done: Callable[[], bool], what: str, processes: list[Emulator]) -> None:
    """Until `done`, failing with the servers' output if one ends first or a minute passes."""
    deadline = time.monotonic() + 60
    while not done():
        for process in processes:
            if process.process.poll() is not None:
                pytest.fail(f"{process.name} ended before {what}:\n{process.log_tail()}")
        if time.monotonic() > deadline:
            tails = "\n".join(f"{p.name}:\n{p.log_tail()}" for p in processes)
            pytest.fail(f"no {what} within a minute\n{tails}")
        time.sleep(0.1)


def start(name: str, argv: list[str], port: int, folder: Path) -> Emulator:
    log = folder / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "ORCHWATCH_CACHE_DIR": str(folder / "cache")},
        )
    return Emulator(name, process, port, log)


@pytest.fixture
def served(tmp_path: Path, config: Config) -> Iterator[tuple[str, Path, list[Emulator]]]:
    for binary in (CHROMIUM, CHROMEDRIVER):
        if not os.access(binary, os.X_OK):
            pytest.fail(
                f"{binary} is missing: the browser test needs Debian's chromium and "
                "chromium-driver (make test installs them: apt-get install chromium "
                "chromium-driver)"
            )
    recording = tmp_path / "bridge.db"
    record_demo(config, recording, HOUR[:3])
    viewers = tmp_path / "viewers.jsonl"
    port = free_port()
    server = start(
        "orchwatch serve",
        [
            sys.executable,
            "-m",
            "orchwatch",
            "serve",
            "--source",
            str(recording),
            "--port",
            str(port),
            "--viewer-log",
            str(viewers),
        ],
        port,
        tmp_path,
    )
    processes = [server]
    try:
        wait_for(lambda: "serving" in server.log_tail(), "the serving line", processes)
        yield f"http://127.0.0.1:{port}/", viewers, processes
    finally:
        for process in processes:
            process.stop()


def test_a_browser_views_the_recording_and_cannot_act(
    served: tuple[str, Path, list[Emulator]], tmp_path: Path
) -> None:
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url, viewers, processes = served
    driver_port = free_port()
    driver_process = start(
        "chromedriver", [CHROMEDRIVER, f"--port={driver_port}"], driver_port, tmp_path
    )
    processes.append(driver_process)
    wait_for(lambda: "successfully" in driver_process.log_tail(), "chromedriver", processes)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,900"):
        options.add_argument(argument)
    browser = webdriver.Remote(command_executor=f"http://127.0.0.1:{driver_port}", options=options)
    try:
        browser.get(url)
        assert "orchwatch" in browser.page_source  # the page names the app it serves
        wait_for(
            lambda: any(e["event"] == "first-frame" for e in events(viewers)),
            "first frame in the browser's session",
            processes,
        )
        first = next(e for e in events(viewers) if e["event"] == "first-frame")
        assert first["moment"] == HOUR[2].isoformat()  # the latest moment, followed
        keys = WebDriverWait(browser, 60).until(
            lambda b: b.find_element(By.CSS_SELECTOR, ".xterm-helper-textarea")
        )
        keys.send_keys("?")
        wait_for(
            lambda: any(e["detail"] == "HelpScreen" for e in events(viewers)),
            "the help screen opened by a key typed in the browser",
            processes,
        )
        shots = os.environ.get("ORCHWATCH_SCREENSHOTS_DIR")
        if shots:
            browser.save_screenshot(str(Path(shots) / "browser-help.png"))
        keys.send_keys("\ue00c")  # Escape: the help closes
        wait_for(
            lambda: events(viewers)[-1]["detail"] == "DashboardScreen",
            "the dashboard again",
            processes,
        )
        keys.send_keys("d")
        wait_for(
            lambda: any(e["event"] == "refused" for e in events(viewers)),
            "the deploy key refused",
            processes,
        )
        assert [e["detail"] for e in events(viewers) if e["event"] == "refused"] == ["d"]
        if shots:  # for the README's screenshots only: the refusal's toast painted
            time.sleep(1)
            browser.save_screenshot(str(Path(shots) / "browser-recording.png"))
        assert len({e["pid"] for e in events(viewers)}) == 1  # one session, one process
    finally:
        browser.quit()

"""Check that the published asv dashboard renders in a real browser, and take its screenshot.

Serves the published HTML with ``asv preview`` on 127.0.0.1, loads it in
headless Chromium, and checks the page the browser built: the dashboard's
JavaScript must have filled in the list of benchmarks. Optionally saves a
screenshot of one benchmark's page (the list on the left, its graph on the
right).

The dashboard loads jQuery, flot, Bootstrap, blueimp-md5 and stupidtable
from public CDNs; without internet access it shows only "Can not determine
continental origin of swallow". ``--offline`` first makes the published HTML
self-contained: it fetches the same libraries from the npm registry (``npm
pack``) into ``html/vendor/`` and points ``index.html`` at them.

Run from the repository root after ``asv publish`` (Chromium from the
``chromium`` Debian package, or any build named by ``--chromium``)::

    python asv_benchmarks/check_dashboard.py
    python asv_benchmarks/check_dashboard.py --offline --screenshot docs/asv-dashboard.png

Exit status 0 when the page shows every expected benchmark, 1 otherwise.
"""

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: Benchmarks the list must show: one of each module.
EXPECTED = (
    "kernels.MatrixProducts.time_forward",
    "training.TrainEpoch.time_epoch",
    "inference.Predict.time_predict",
    "compilation.ColdFirstFit.timeraw_cold_first_fit",
    "memory.FitMemory.peakmem_fit_w1",
    "accuracy.DigitsAccuracy.track_test_accuracy",
)

#: The page of the screenshot: one-epoch times of W1 over the history.
SCREENSHOT_PAGE = "#training.TrainEpoch.time_epoch?p-workload=%27W1%27&p-threads=1&p-dtype=%27float32%27"

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
)


#: The dashboard's CDN dependencies (asv 0.6) and the npm package file that replaces each.
#: stupidtable 1.0.1 is not on npm; 1.1.3 is the release that is.
CDN_ASSETS = {
    "https://code.jquery.com/jquery-3.3.1.min.js": ("jquery@3.3.1", "dist/jquery.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.min.js": ("flot@0.8.3", "jquery.flot.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.time.min.js": ("flot@0.8.3", "jquery.flot.time.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.selection.min.js": (
        "flot@0.8.3",
        "jquery.flot.selection.js",
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.categories.min.js": (
        "flot@0.8.3",
        "jquery.flot.categories.js",
    ),
    "https://cdn.jsdelivr.net/npm/flot-orderbars@1.0.0/js/jquery.flot.orderBars.js": (
        "flot-orderbars@1.0.0",
        "js/jquery.flot.orderBars.js",
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/stupidtable/1.0.1/stupidtable.min.js": (
        "stupid-table-plugin@1.1.3",
        "stupidtable.min.js",
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/blueimp-md5/2.19.0/js/md5.min.js": ("blueimp-md5@2.19.0", "js/md5.min.js"),
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/js/bootstrap.min.js": (
        "bootstrap@3.1.1",
        "dist/js/bootstrap.min.js",
    ),
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/css/bootstrap.min.css": (
        "bootstrap@3.1.1",
        "dist/css/bootstrap.min.css",
    ),
}


def make_offline(html_dir, npm_cache=HERE / ".asv" / "npm"):
    """Copy the dashboard's CDN libraries into ``html_dir/vendor`` (from npm) and point index.html at them."""
    index = Path(html_dir) / "index.html"
    page = index.read_text(encoding="utf-8")
    vendor = Path(html_dir) / "vendor"
    vendor.mkdir(exist_ok=True)
    npm_cache.mkdir(parents=True, exist_ok=True)
    for url in sorted(set(re.findall(r'(?:src|href)="(https://[^"]+\.(?:js|css))"', page))):
        if url not in CDN_ASSETS:
            raise SystemExit(f"index.html loads {url}, which --offline does not know (a newer asv?)")
        package, member = CDN_ASSETS[url]
        tarball = npm_cache / (package.replace("@", "-") + ".tgz")
        if not tarball.is_file():
            subprocess.run(
                ["npm", "pack", "--silent", "--pack-destination", str(npm_cache), package],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        local = f"{package.split('@')[0]}-{Path(member).name}"
        with tarfile.open(tarball) as archive:
            (vendor / local).write_bytes(archive.extractfile(f"package/{member}").read())
        page = page.replace(url, f"vendor/{local}")
    # The CDNs' subresource-integrity hashes do not fit the npm files.
    page = re.sub(r'\s+(?:integrity|crossorigin|referrerpolicy)="[^"]*"', "", page)
    index.write_text(page, encoding="utf-8")


def find_chromium(name=None):
    for candidate in [name] if name else ["chromium", "chromium-browser", "google-chrome", "chrome"]:
        path = shutil.which(candidate)
        if path:
            return path
    raise SystemExit("no Chromium found: apt-get install chromium, or pass --chromium PATH")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_preview(port):
    """``asv preview`` in the benchmark directory; returns the process once the page is served."""
    server = subprocess.Popen(
        [sys.executable, "-m", "asv", "preview", "--port", str(port)],
        cwd=HERE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    for _ in range(100):
        try:
            with urllib.request.urlopen(url + "index.json", timeout=1):
                return server, url
        except OSError:
            if server.poll() is not None:
                raise SystemExit("asv preview stopped: has `asv publish` been run?") from None
            time.sleep(0.2)
    server.terminate()
    raise SystemExit(f"asv preview did not answer on {url}")


def chromium(browser, *arguments, budget_ms=20000):
    """Run headless Chromium with a fresh profile; returns its standard output."""
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}", *arguments],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,  # the checks below judge what it wrote
        )
    return done.stdout


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--screenshot", help="also save a PNG of a benchmark's page here")
    parser.add_argument("--chromium", help="browser executable (default: chromium on PATH)")
    parser.add_argument("--port", type=int, default=0, help="port of asv preview (default: a free one)")
    parser.add_argument(
        "--offline", action="store_true", help="first copy the dashboard's CDN libraries into html/vendor (npm)"
    )
    args = parser.parse_args(argv)

    browser = find_chromium(args.chromium)
    if args.offline:
        make_offline(HERE / "html")
    server, url = start_preview(args.port or free_port())
    try:
        dom = chromium(browser, "--dump-dom", url)
        missing = [name for name in EXPECTED if f'href="#{name}"' not in dom and f"#{name}" not in dom]
        shown = dom.count('href="#')
        if missing:
            print(f"dashboard at {url} is missing {', '.join(missing)} ({shown} benchmark links in the page)")
            return 1
        print(f"dashboard at {url} renders: {shown} benchmark links, all of {len(EXPECTED)} expected present")
        if args.screenshot:
            target = os.path.abspath(args.screenshot)
            chromium(browser, f"--screenshot={target}", "--window-size=1400,1000", url + SCREENSHOT_PAGE)
            if not os.path.isfile(target) or os.path.getsize(target) == 0:
                print(f"no screenshot written to {target}")
                return 1
            print(f"screenshot: {target}")
        return 0
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())

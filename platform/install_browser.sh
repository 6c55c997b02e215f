#!/bin/sh
# Chromium for the console's end-to-end tests (tests/console/test_e2e.py drives it with
# Playwright for Python, launched by path: `playwright install` cannot download browsers in
# our build environments). Debian/Ubuntu only; idempotent; never fails the build: where the
# browser cannot be installed it says so loudly and the e2e tests skip themselves.
set -u

found=""
for candidate in "${ENGRAM_CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser \
                 /usr/bin/google-chrome /usr/bin/google-chrome-stable; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then found="$candidate"; break; fi
done
if [ -n "$found" ]; then
    echo "install_browser: using $found"
    exit 0
fi

loud() {
    echo "################################################################################" >&2
    echo "# install_browser: $1" >&2
    echo "# The console end-to-end tests (tests/console/test_e2e.py) will be SKIPPED." >&2
    echo "# Install Chromium yourself (Debian/Ubuntu: sudo apt-get install -y chromium)" >&2
    echo "# or point ENGRAM_CHROMIUM at a Chromium/Chrome binary." >&2
    echo "################################################################################" >&2
}

if [ "$(id -u)" != "0" ]; then
    loud "Chromium is missing and we are not root, so it cannot be installed."
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    loud "Chromium is missing and this system has no apt-get."
    exit 0
fi

echo "install_browser: installing Debian's chromium package"
export DEBIAN_FRONTEND=noninteractive
if apt-get update -q && apt-get install -y -q chromium; then
    echo "install_browser: installed $(command -v chromium)"
else
    loud "apt-get could not install chromium (offline, or no such package here)."
fi
exit 0

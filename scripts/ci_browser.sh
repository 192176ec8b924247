#!/usr/bin/env bash
# Make Debian's chromium available for the dashboard's browser test (tests/e2e/).
# Installs it with apt-get when /usr/bin/chromium is missing (needs root); never downloads a browser
# build of its own. Playwright (Python) drives it with executable_path=/usr/bin/chromium.
# Exit 0 even when it cannot install (the browser test then skips with a clear reason).
set -uo pipefail

CHROMIUM="${INVDESIGN_CHROMIUM:-/usr/bin/chromium}"

if [ -x "$CHROMIUM" ]; then
    echo "ci_browser: chromium present: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
    exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ci_browser: no chromium and cannot apt-get install it (not root or no apt); browser test will skip"
    exit 0
fi
echo "ci_browser: installing Debian's chromium"
export DEBIAN_FRONTEND=noninteractive
if apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; then
    echo "ci_browser: installed $("$CHROMIUM" --version 2>/dev/null || echo chromium)"
else
    echo "ci_browser: apt-get install chromium failed; browser test will skip"
fi
exit 0

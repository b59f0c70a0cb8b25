#!/bin/sh
# Runs every test tier: unit (no guest), payload (tiny guests on /dev/kvm)
# and e2e (real boots), the first two in the plain build and all three in
# an AddressSanitizer + UndefinedBehaviorSanitizer build.
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh
[ -d build-asan ] || meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
ninja -C build-asan -j"$(nproc)" >/dev/null

status=0
meson test -C build --suite unit --suite payload --print-errorlogs || status=1
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	meson test -C build-asan --print-errorlogs || status=1

# One closing line over both runs, counting each test case.
python3 - build/meson-logs/testlog.json build-asan/meson-logs/testlog.json <<'PY'
import json, re, sys
passed = failed = skipped = 0
for path in sys.argv[1:]:
    for line in open(path):
        t = json.loads(line)
        # cmocka prints its summary on stderr, TAP goes to stdout.
        out = (t.get("stdout") or "") + (t.get("stderr") or "")
        cm_pass = re.findall(r"^\[  PASSED  \] (\d+) test", out, re.M)
        cm_fail = re.findall(r"^\[  FAILED  \] (\d+) test", out, re.M)
        cm_skip = re.findall(r"^\[  SKIPPED \] (\d+) test", out, re.M)
        tap_ok = len(re.findall(r"^ok \d+", out, re.M))
        tap_fail = len(re.findall(r"^not ok \d+", out, re.M))
        if cm_pass or cm_fail:
            passed += sum(map(int, cm_pass)); failed += sum(map(int, cm_fail))
            skipped += sum(map(int, cm_skip))
        elif tap_ok or tap_fail:
            passed += tap_ok; failed += tap_fail
        elif t["result"] == "OK":
            passed += 1
        else:
            failed += 1
        if t["result"] not in ("OK", "SKIP") and not (cm_fail or tap_fail):
            failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
exit $status

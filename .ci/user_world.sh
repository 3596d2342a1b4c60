#!/usr/bin/env bash
# The package installed into a user's world, checked as a user would see it:
# 1. the base install (no extras) in a fresh venv: an unrelated project's pytest passes,
#    the library imports without the emulator's packages, the emulator names its extra;
# 2. a venv that already holds the newest Prefect: installing keeps that Prefect,
#    `pip check` is clean, and `piktid-prefect demo` delivers its 16 outputs.
set -euo pipefail
root="${1:?usage: user_world.sh PROJECT_ROOT}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "--- base install, a user's unrelated pytest suite"
python3 -m venv "$work/base"
"$work/base/bin/pip" install -q "$root" pytest
mkdir "$work/user_project"
cat > "$work/user_project/test_theirs.py" <<'EOF'
def test_their_code():
    assert sum([1, 2]) == 3
EOF
(cd "$work/user_project" && "$work/base/bin/python" -m pytest -q -p no:cacheprovider)
"$work/base/bin/python" -c "
import importlib.util, piktid_prefect
from piktid_prefect import generate_people, PiktidCredentials
assert importlib.util.find_spec('cv2') is None, 'the base install brought OpenCV'
print('base install: the library imports without the emulator extra')"
set +e
"$work/base/bin/piktid-prefect" emulator --port 1 > "$work/emulator.txt" 2>&1
code=$?
set -e
cat "$work/emulator.txt"
[ "$code" -eq 2 ] && grep -q "piktid-prefect\[emulator\]" "$work/emulator.txt"

echo "--- a venv that already holds the newest Prefect"
python3 -m venv "$work/user"
"$work/user/bin/pip" install -q prefect
before="$("$work/user/bin/python" -c 'import prefect; print(prefect.__version__)')"
"$work/user/bin/pip" install -q "$root[emulator]"
after="$("$work/user/bin/python" -c 'import prefect; print(prefect.__version__)')"
echo "prefect before: $before, after installing piktid-prefect[emulator]: $after"
[ "$before" = "$after" ]
"$work/user/bin/pip" check
mkdir "$work/demo"
(cd "$work/demo" && PREFECT_HOME="$work/demo/prefect-home" "$work/user/bin/piktid-prefect" demo)
"$work/user/bin/python" - "$work/demo/piktid-output/manifest.json" <<'EOF'
import json, sys
outputs = json.load(open(sys.argv[1]))["outputs"]
assert len(outputs) == 16, len(outputs)
print(f"demo on the user's Prefect: {len(outputs)} outputs delivered")
EOF

#!/usr/bin/env bash
# Copies each example the README shows into README.md, between its markers
# <!-- NAME:begin --> and <!-- NAME:end -->. examples/readme_block_check.cmake
# is the test that they agree.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 - <<'PY'
import re
blocks = {
    "tour": "examples/readme_tour.cpp",
    "telemetry": "examples/telemetry_example.cpp",
}
readme = open("README.md").read()
for name, path in blocks.items():
    block = f"<!-- {name}:begin -->\n```cpp\n" + open(path).read() + f"```\n<!-- {name}:end -->"
    readme, n = re.subn(rf"<!-- {name}:begin -->.*?<!-- {name}:end -->", lambda _: block, readme, flags=re.S)
    assert n == 1, f"README.md needs exactly one pair of {name} markers"
open("README.md", "w").write(readme)
PY

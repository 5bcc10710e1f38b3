#!/usr/bin/env bash
# Copies examples/readme_tour.cpp into README.md between the tour markers.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 - <<'PY'
import re
readme = open("README.md").read()
tour = open("examples/readme_tour.cpp").read()
block = "<!-- tour:begin -->\n```cpp\n" + tour + "```\n<!-- tour:end -->"
readme, n = re.subn(r"<!-- tour:begin -->.*?<!-- tour:end -->", lambda _: block, readme, flags=re.S)
assert n == 1, "README.md needs exactly one pair of tour markers"
open("README.md", "w").write(readme)
PY

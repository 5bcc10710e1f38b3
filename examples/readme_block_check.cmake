# Run with cmake -P: fails unless README's ```cpp block between the markers
# <!-- BLOCK:begin --> and <!-- BLOCK:end --> is exactly the file SOURCE.
# scripts/sync-readme.sh copies every such block from its source.
file(READ ${README} readme)
file(READ ${SOURCE} source)
set(opening "<!-- ${BLOCK}:begin -->\n```cpp\n")
string(FIND "${readme}" "${opening}" begin)
string(FIND "${readme}" "```\n<!-- ${BLOCK}:end -->" end)
if(begin EQUAL -1 OR end EQUAL -1)
  message(FATAL_ERROR "README.md has no ```cpp block between the ${BLOCK} markers")
endif()
string(LENGTH "${opening}" skip)
math(EXPR first "${begin} + ${skip}")
math(EXPR length "${end} - ${first}")
string(SUBSTRING "${readme}" ${first} ${length} shown)
if(NOT shown STREQUAL source)
  message(FATAL_ERROR "README.md's ${BLOCK} block differs from ${SOURCE}: run scripts/sync-readme.sh")
endif()

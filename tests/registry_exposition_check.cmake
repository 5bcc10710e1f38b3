# Run with cmake -P. Checks what EXPOSITION (registry_exposition_main.cpp, a
# realistic registry) prints:
#   MODE=promtool  `promtool check metrics` (PROMTOOL) accepts the Prometheus
#                  text without a word of complaint, the text covers every
#                  kind of metric and escape, and promtool does reject a
#                  counter without _total (so its silence means something).
#   MODE=json      the JSON parses, has no raw control character, and holds
#                  the same families, with the same types, as the Prometheus
#                  text.
# SCRATCH is a directory for the files handed to promtool.
execute_process(COMMAND ${EXPOSITION} OUTPUT_VARIABLE text RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${EXPOSITION} failed (${rc})")
endif()

if(MODE STREQUAL "promtool")
  if(NOT PROMTOOL OR NOT EXISTS "${PROMTOOL}")
    message(FATAL_ERROR "promtool not found: `scripts/deps.sh test` installs it (Debian package prometheus)")
  endif()
  file(MAKE_DIRECTORY ${SCRATCH})
  file(WRITE ${SCRATCH}/exposition.prom "${text}")
  execute_process(COMMAND ${PROMTOOL} check metrics INPUT_FILE ${SCRATCH}/exposition.prom
    OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0 OR NOT out STREQUAL "" OR NOT err STREQUAL "")
    message(FATAL_ERROR "promtool check metrics complains (exit ${rc}) about ${SCRATCH}/exposition.prom:\n${out}${err}")
  endif()

  # The exposition must exercise what the check is for.
  foreach(needle " counter\n" " gauge\n" " histogram\n" "_bucket{" "le=\"+Inf\"" "_sum" "_count"
                 "\\\"" "\\\\" "\\n" " NaN\n" " +Inf\n" " -Inf\n")
    string(FIND "${text}" "${needle}" at)
    if(at EQUAL -1)
      message(FATAL_ERROR "the exposition lacks '${needle}', so the promtool check does not cover it")
    endif()
  endforeach()

  file(WRITE ${SCRATCH}/control.prom "# HELP frames Frames\n# TYPE frames counter\nframes 1\n")
  execute_process(COMMAND ${PROMTOOL} check metrics INPUT_FILE ${SCRATCH}/control.prom
    RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
  if(rc EQUAL 0)
    message(FATAL_ERROR "promtool accepted a counter without _total: its verdict proves nothing")
  endif()
elseif(MODE STREQUAL "json")
  execute_process(COMMAND ${EXPOSITION} --json OUTPUT_VARIABLE json RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${EXPOSITION} --json failed (${rc})")
  endif()
  # CMake's parser (jsoncpp) is lenient about raw control characters in
  # strings, so look for those first; registry_test pins the exact text.
  string(REGEX REPLACE "\n$" "" body "${json}")
  foreach(raw "\n" "\r" "\t")
    string(FIND "${body}" "${raw}" at)
    if(NOT at EQUAL -1)
      message(FATAL_ERROR "the JSON holds a raw control character at ${at}")
    endif()
  endforeach()
  string(JSON families ERROR_VARIABLE error LENGTH "${json}")
  if(error)
    message(FATAL_ERROR "the JSON does not parse: ${error}\n${json}")
  endif()
  string(REGEX MATCHALL "# TYPE [^\n]*" types "${text}")
  list(LENGTH types expected)
  if(NOT families EQUAL expected)
    message(FATAL_ERROR "the JSON has ${families} families, the Prometheus text ${expected}")
  endif()
  math(EXPR last "${families} - 1")
  foreach(i RANGE ${last})
    string(JSON name MEMBER "${json}" ${i})
    string(JSON type GET "${json}" ${name} type)
    string(JSON samples LENGTH "${json}" ${name} samples)
    string(FIND "${text}" "# TYPE ${name} ${type}\n" at)
    if(at EQUAL -1 OR samples EQUAL 0)
      message(FATAL_ERROR "JSON family ${name} (${type}, ${samples} samples) does not match the Prometheus text")
    endif()
  endforeach()
else()
  message(FATAL_ERROR "MODE must be promtool or json")
endif()

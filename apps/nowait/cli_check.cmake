# Runs the nowait CLI once and checks how it ended. Used by the CTest tests in
# this folder:
#   cmake -DPROGRAM=<nowait> -DARGS=<arg|arg|...> -DEXIT=<code|nonzero>
#         [-DSTDOUT_CONTAINS=<text>] [-DSTDERR_CONTAINS=<text>] [-DEXPECT_FROM=<config>]
#         -P cli_check.cmake
# ARGS is separated by '|' because a ';' would split it on the way here.
# EXPECT_FROM names a config whose first line is "# expect: <line>: <message>";
# stderr must then be exactly "<config>:<line>: <message>", with @DIR@ in the
# message standing for the config's directory.
string(REPLACE "|" ";" args "${ARGS}")
execute_process(COMMAND ${PROGRAM} ${args} RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
message(STATUS "exit: ${code}\nstdout:\n${out}\nstderr:\n${err}")

if(NOT code MATCHES "^[0-9]+$")
  message(FATAL_ERROR "nowait did not exit normally: ${code}")
endif()
if(EXIT STREQUAL "nonzero")
  if(code EQUAL 0)
    message(FATAL_ERROR "expected a non-zero exit code, got 0")
  endif()
elseif(NOT code EQUAL EXIT)
  message(FATAL_ERROR "expected exit code ${EXIT}, got ${code}")
endif()

if(DEFINED STDOUT_CONTAINS)
  string(FIND "${out}" "${STDOUT_CONTAINS}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "stdout does not contain '${STDOUT_CONTAINS}'")
  endif()
endif()
if(DEFINED STDERR_CONTAINS)
  string(FIND "${err}" "${STDERR_CONTAINS}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "stderr does not contain '${STDERR_CONTAINS}'")
  endif()
endif()

if(DEFINED EXPECT_FROM)
  # file(READ), not file(STRINGS): the latter returns a list and escapes ';'.
  file(READ "${EXPECT_FROM}" content)
  string(REGEX MATCH "^[^\n]*" first_line "${content}")
  string(REGEX REPLACE "^# expect: " "" expected "${first_line}")
  get_filename_component(dir "${EXPECT_FROM}" DIRECTORY)
  string(REPLACE "@DIR@" "${dir}" expected "${expected}")
  set(expected "${EXPECT_FROM}:${expected}\n")
  if(NOT err STREQUAL expected)
    message(FATAL_ERROR "stderr differs.\nexpected: ${expected}actual:   ${err}")
  endif()
endif()

# Run with cmake -P: install the core from NOWAIT_BUILD_DIR into a scratch
# prefix, then configure, build and run examples/consumer against that prefix.
file(REMOVE_RECURSE ${SCRATCH})
set(prefix ${SCRATCH}/prefix)

function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "command failed (${rc}): ${ARGV}\n${out}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

run(${CMAKE_COMMAND} --install ${NOWAIT_BUILD_DIR} --prefix ${prefix})
if(NOT EXISTS ${prefix}/include/nowait/spsc_ring.hpp)
  message(FATAL_ERROR "the install did not place the headers under ${prefix}/include/nowait")
endif()
run(${CMAKE_COMMAND} -S ${NOWAIT_SOURCE_DIR}/examples/consumer -B ${SCRATCH}/build -G Ninja
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_CXX_COMPILER=${CXX})
run(${CMAKE_COMMAND} --build ${SCRATCH}/build)
run(${SCRATCH}/build/consumer)
string(FIND "${last_output}" "consumer: moved 1000 items, sum 499500" found)
if(found EQUAL -1)
  message(FATAL_ERROR "consumer printed an unexpected result:\n${last_output}")
endif()
message(STATUS "consumer output: ${last_output}")

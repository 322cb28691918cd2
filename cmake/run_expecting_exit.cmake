# Runs a program and checks its exit status and output: CTest's own PASS_REGULAR_EXPRESSION
# ignores the exit status, and the command-line tools promise both (0 ok, 1 failed, 2 usage).
#
#   cmake -DEXPECTED_EXIT=N [-DEXPECTED_STDOUT=regex] [-DEXPECTED_STDERR=regex]
#         -P run_expecting_exit.cmake -- PROGRAM [ARGS...]
if(NOT DEFINED EXPECTED_EXIT)
  message(FATAL_ERROR "run_expecting_exit.cmake: EXPECTED_EXIT is not set")
endif()

set(command "")
set(after_separator FALSE)
math(EXPR last "${CMAKE_ARGC} - 1")
foreach(i RANGE ${last})
  if(after_separator)
    list(APPEND command "${CMAKE_ARGV${i}}")
  elseif(CMAKE_ARGV${i} STREQUAL "--")
    set(after_separator TRUE)
  endif()
endforeach()
if(NOT command)
  message(FATAL_ERROR "run_expecting_exit.cmake: no program after --")
endif()

execute_process(COMMAND ${command}
  RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("exit status: ${status}\nstdout:\n${out}\nstderr:\n${err}")

if(NOT status STREQUAL EXPECTED_EXIT)
  message(FATAL_ERROR "expected exit status ${EXPECTED_EXIT}, got ${status}")
endif()
if(DEFINED EXPECTED_STDOUT AND NOT out MATCHES "${EXPECTED_STDOUT}")
  message(FATAL_ERROR "stdout does not match: ${EXPECTED_STDOUT}")
endif()
if(DEFINED EXPECTED_STDERR AND NOT err MATCHES "${EXPECTED_STDERR}")
  message(FATAL_ERROR "stderr does not match: ${EXPECTED_STDERR}")
endif()

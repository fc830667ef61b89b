# One helper registers every test: labels, a timeout, and gtest discovery so that
# skipped cases show as skipped in ctest.
find_package(GTest REQUIRED)
include(GoogleTest)

# swapio_add_gtest(<target> SOURCES ... LABEL <label> [TIMEOUT s] [LIBS ...])
# One label per target: gtest_discover_tests (CMake 3.25) cannot carry a list through PROPERTIES.
function(swapio_add_gtest target)
  cmake_parse_arguments(ARG "" "TIMEOUT;LABEL" "SOURCES;LIBS" ${ARGN})
  if(NOT ARG_LABEL)
    message(FATAL_ERROR "swapio_add_gtest(${target}): LABEL is required")
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  add_executable(${target} ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE swapio swapio_warnings GTest::gtest GTest::gtest_main ${ARG_LIBS})
  gtest_discover_tests(${target}
    DISCOVERY_MODE PRE_TEST
    DISCOVERY_TIMEOUT 60
    PROPERTIES LABELS ${ARG_LABEL} TIMEOUT ${ARG_TIMEOUT}
               ENVIRONMENT "SWAPIO_TEST_DIR=${CMAKE_BINARY_DIR}/test-tmp")
endfunction()

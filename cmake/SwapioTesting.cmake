# One helper registers every test: labels, a timeout, and gtest discovery so that
# skipped cases show as skipped in ctest.
include(GoogleTest)

# swapio_add_gtest(<target> SOURCES ... [LABELS ...] [TIMEOUT s] [LIBS ...])
function(swapio_add_gtest target)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;LABELS;LIBS" ${ARGN})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  add_executable(${target} ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE swapio swapio_warnings GTest::gtest GTest::gtest_main ${ARG_LIBS})
  gtest_discover_tests(${target}
    DISCOVERY_MODE PRE_TEST
    PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT})
endfunction()

# Installs the build into a temporary prefix, then uses it as an outside project would: the
# command runs, a consumer builds through find_package(swapio) and through pkg-config, and both
# move bytes correctly; where the build has the Python package (PYTHON, the interpreter, and
# PYTHON_DIR, its folder relative to the prefix), the installed package is imported and used with torch.
#   cmake -DBUILD_DIR=... -DSOURCE_DIR=... -DWORK=... -DCXX=... [-DPYTHON=... -DPYTHON_DIR=...] -P check_install.cmake
foreach(v BUILD_DIR SOURCE_DIR WORK CXX)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "check_install: ${v} is not set")
  endif()
endforeach()
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")
set(prefix "${WORK}/prefix")

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "check_install: ${what} failed (${rc}):\n${out}\n${err}")
  endif()
  set(out "${out}" PARENT_SCOPE)
endfunction()

run("cmake --install" ${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${prefix}")
foreach(f bin/swapio include/swapio/swapio.hpp include/swapio/handle.hpp share/man/man1/swapio.1)
  if(NOT EXISTS "${prefix}/${f}")
    message(FATAL_ERROR "check_install: ${f} was not installed")
  endif()
endforeach()
if(EXISTS "${prefix}/include/swapio/detail")
  message(FATAL_ERROR "check_install: the private detail/ headers were installed")
endif()
run("the installed swapio --help" "${prefix}/bin/swapio" --help)

# Through the CMake package.
run("configuring the consumer" ${CMAKE_COMMAND} -S "${SOURCE_DIR}/tests/install/consumer" -B "${WORK}/cmake-build"
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_BUILD_TYPE=Release)
run("building the consumer" ${CMAKE_COMMAND} --build "${WORK}/cmake-build")
run("the consumer built with find_package" "${WORK}/cmake-build/consumer" "${WORK}/through-cmake.bin")
message(STATUS "find_package: ${out}")

# Through pkg-config.
find_program(PKG_CONFIG pkg-config REQUIRED)
set(ENV{PKG_CONFIG_PATH} "${prefix}/lib/pkgconfig:${prefix}/lib64/pkgconfig:$ENV{PKG_CONFIG_PATH}")
run("pkg-config" ${PKG_CONFIG} --cflags --libs swapio)
string(STRIP "${out}" flags)
separate_arguments(flags UNIX_COMMAND "${flags}")
run("compiling the consumer with pkg-config's flags" ${CXX} -O2 "${SOURCE_DIR}/tests/install/consumer/consumer.cpp"
    -o "${WORK}/consumer-pc" ${flags})
run("the consumer built with pkg-config" "${WORK}/consumer-pc" "${WORK}/through-pkg-config.bin")
message(STATUS "pkg-config: ${out}")

# The Python package, from the prefix's site-packages, with torch.
if(PYTHON)
  if(NOT EXISTS "${prefix}/${PYTHON_DIR}/swapio/__init__.py" OR NOT EXISTS "${prefix}/${PYTHON_DIR}/swapio/deepspeed.py")
    message(FATAL_ERROR "check_install: the Python package was not installed in ${PYTHON_DIR}")
  endif()
  set(ENV{PYTHONPATH} "${prefix}/${PYTHON_DIR}")
  set(ENV{PYTHONDONTWRITEBYTECODE} 1)
  run("importing the installed Python package" ${PYTHON} "${SOURCE_DIR}/tests/install/use_python_package.py"
      "${prefix}" "${WORK}/through-python.bin")
  message(STATUS "python: ${out}")
endif()
file(REMOVE_RECURSE "${WORK}")

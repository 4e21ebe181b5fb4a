# Install smoke test, run by CTest as `cmake -P` (see tests/extra.cmake).
#
# Installs BUILD_DIR into WORK_DIR/prefix, then builds the consumer in
# CONSUMER_DIR against that prefix four ways and runs each program:
#   find_package(uhmm) -> uhmm::uhmm and uhmm::uhmm_static;
#   pkg-config uhmm    -> shared, and static (which needs Requires.private).
# A missing tool is a visible skip ("[  SKIPPED ]"), not a failure.
cmake_minimum_required(VERSION 3.25)

foreach(v BUILD_DIR WORK_DIR CONSUMER_DIR LIBDIR GENERATOR C_COMPILER)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "install_test.cmake: -D${v}=... is required")
  endif()
endforeach()
set(prefix ${WORK_DIR}/prefix)
set(libdir ${prefix}/${LIBDIR})
separate_arguments(san UNIX_COMMAND "${SAN_FLAGS}")

function(skip why)
  message("[  SKIPPED ] install test: ${why}")
endfunction()

# Run a command; on failure print its output and stop the test.
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc
                  OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " cmd "${ARGN}")
    message(FATAL_ERROR "failed (${rc}): ${cmd}\n${out}")
  endif()
  set(run_out "${out}" PARENT_SCOPE)
endfunction()

# Run a built consumer: it prints "uhmm <version> ok" and exits 0.
function(run_consumer exe)
  run(${exe})
  if(NOT run_out MATCHES "uhmm [0-9]+\\.[0-9]+\\.[0-9]+ ok")
    message(FATAL_ERROR "${exe}: unexpected output: ${run_out}")
  endif()
  message(STATUS "ran ${exe}: ${run_out}")
endfunction()

function(install_tree)
  file(REMOVE_RECURSE ${WORK_DIR})
  # Only uhmm's own components: the test must not depend on whether other
  # targets (benchmarks, tools) were built.
  foreach(c uhmm_runtime uhmm_development)
    run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix}
        --component ${c})
  endforeach()
  foreach(f include/uhmm/uhmm.h include/uhmm/mm.h
            ${LIBDIR}/libuhmm.so ${LIBDIR}/libuhmm.a
            ${LIBDIR}/pkgconfig/uhmm.pc
            ${LIBDIR}/cmake/uhmm/uhmmConfig.cmake
            ${LIBDIR}/cmake/uhmm/uhmmConfigVersion.cmake
            ${LIBDIR}/cmake/uhmm/uhmmTargets.cmake)
    if(NOT EXISTS ${prefix}/${f})
      message(FATAL_ERROR "not installed: ${f}")
    endif()
  endforeach()
endfunction()

function(consume_with_cmake)
  set(b ${WORK_DIR}/cmake-consumer)
  string(REPLACE ";" " " flags "${san}")
  set(args -S ${CONSUMER_DIR} -B ${b} -G ${GENERATOR}
      -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_C_COMPILER=${C_COMPILER}
      "-DCMAKE_C_FLAGS=${flags}" -DCMAKE_BUILD_TYPE=Debug)
  if(MAKE_PROGRAM)
    list(APPEND args -DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM})
  endif()
  run(${CMAKE_COMMAND} ${args})
  run(${CMAKE_COMMAND} --build ${b})
  run_consumer(${b}/consumer_shared)
  run_consumer(${b}/consumer_static)
endfunction()

# pkg-config's answer for uhmm, as a list of arguments.
function(pc_flags out)
  run(${PKG_CONFIG} ${ARGN} uhmm)
  string(STRIP "${run_out}" s)
  separate_arguments(s UNIX_COMMAND "${s}")
  set(${out} ${s} PARENT_SCOPE)
endfunction()

function(consume_with_pkg_config)
  set(ENV{PKG_CONFIG_PATH} ${libdir}/pkgconfig)
  pc_flags(cflags --cflags)
  pc_flags(libs --libs)
  pc_flags(static_libs --static --libs)
  if(NOT static_libs MATCHES "-lurcu")
    message(FATAL_ERROR "pkg-config --static --libs uhmm lacks liburcu: "
            "${static_libs}")
  endif()
  set(src ${CONSUMER_DIR}/consumer.c)
  set(exe ${WORK_DIR}/pc_shared)
  run(${C_COMPILER} ${san} ${cflags} ${src} -o ${exe} ${libs}
      -Wl,-rpath,${libdir})
  run_consumer(${exe})
  # Static: the archive by file name, then what Requires.private adds.
  list(TRANSFORM static_libs REPLACE "^-luhmm$" "-l:libuhmm.a")
  set(exe ${WORK_DIR}/pc_static)
  run(${C_COMPILER} ${san} ${cflags} ${src} -o ${exe} ${static_libs})
  run_consumer(${exe})
endfunction()

find_program(PKG_CONFIG NAMES pkg-config pkgconf)
if(NOT EXISTS ${BUILD_DIR}/cmake_install.cmake)
  skip("${BUILD_DIR} has no install rules")
  return()
endif()
install_tree()
consume_with_cmake()
if(NOT PKG_CONFIG)
  skip("pkg-config not found (find_package part passed)")
  return()
endif()
consume_with_pkg_config()
message(STATUS "install test passed")

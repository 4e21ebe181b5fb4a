# cmake -DREADME=README.md -DSOURCE=examples/owner_loop.c -P readme_check.cmake
#
# The README shows the example between the marker line below and the end of
# the ```c block that follows it; fail if that text differs from SOURCE.
set(marker "<!-- examples/owner_loop.c: kept identical by a test -->")
file(READ "${README}" readme)
file(READ "${SOURCE}" source)
string(FIND "${readme}" "${marker}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "README: marker '${marker}' not found")
endif()
string(SUBSTRING "${readme}" ${at} -1 rest)
string(FIND "${rest}" "```c\n" open)
if(open EQUAL -1)
  message(FATAL_ERROR "README: no ```c block after the marker")
endif()
math(EXPR open "${open} + 5")
string(SUBSTRING "${rest}" ${open} -1 rest)
string(FIND "${rest}" "```\n" close)
string(SUBSTRING "${rest}" 0 ${close} shown)
if(NOT shown STREQUAL source)
  file(WRITE "${CMAKE_CURRENT_BINARY_DIR}/readme_owner_loop.c" "${shown}")
  message(FATAL_ERROR "README's example differs from ${SOURCE}; see "
          "${CMAKE_CURRENT_BINARY_DIR}/readme_owner_loop.c")
endif()
message(STATUS "README example matches ${SOURCE}")

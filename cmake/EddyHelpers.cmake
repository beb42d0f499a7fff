# eddy_library(NAME SOURCES ... [DEPS ...] [PRIVATE_DEPS ...])
# One static library per subsystem folder. Public headers live in include/eddy/<subsystem>/;
# third-party libraries are linked PRIVATE by the one target that owns them, so heavy headers
# (RocksDB, Beast, rdkafka) do not leak into every translation unit.
function(eddy_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name}
    PUBLIC ${PROJECT_SOURCE_DIR}/include
    PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
endfunction()

# eddy_test(NAME SOURCES ... DEPS ...): a GoogleTest binary whose tests are discovered when
# ctest runs (not at build time, which would run every binary once more under sanitizers).
# SERIAL: ctest runs these tests alone (timing-sensitive process tests, e.g. crash tests that
# SIGKILL workers, must not share the 2 cores with other tests).
function(eddy_test name)
  cmake_parse_arguments(ARG "SERIAL" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest_main GTest::gmock)
  set(serial FALSE)
  if(ARG_SERIAL)
    set(serial TRUE)
  endif()
  gtest_discover_tests(${name} DISCOVERY_MODE PRE_TEST DISCOVERY_TIMEOUT 60
    PROPERTIES ENVIRONMENT "EDDY_BUILD_DIR=${PROJECT_BINARY_DIR};EDDY_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
               RUN_SERIAL ${serial})
endfunction()

# eddy_export_sdk(TARGET): an executable that loads embedded function libraries. It links the
# whole function SDK (not just the objects it uses itself) and exports its symbols (-rdynamic),
# so a library built with eddy_function_library resolves the SDK against the process at dlopen
# time. Libraries must not link their own SDK copy: one process, one copy of every symbol.
# The SDK headers also call into eddy_model, eddy_protocol and eddy_common, so those archives are
# included whole too: a library must not fail dlopen because the worker happened not to use a
# symbol itself. One SHELL: group, so CMake's option de-duplication cannot split the pair.
function(eddy_export_sdk target)
  set_target_properties(${target} PROPERTIES ENABLE_EXPORTS ON)
  target_link_options(${target} PRIVATE
    "SHELL:-Wl,--whole-archive $<TARGET_FILE:eddy_sdk> $<TARGET_FILE:eddy_model> $<TARGET_FILE:eddy_protocol> $<TARGET_FILE:eddy_common> -Wl,--no-whole-archive")
  target_link_libraries(${target} PRIVATE eddy_sdk eddy_model eddy_protocol eddy_common)
endfunction()

# eddy_function_library(NAME SOURCES ...): a shared library of embedded C++ functions (entry point
# EDDY_EMBEDDED_MODULE) for io.eddy.embedded.v1/module. Default visibility on purpose: the
# library and the worker must agree on one copy of the SDK's vague-linkage symbols (typeinfo).
function(eddy_function_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES" ${ARGN})
  add_library(${name} MODULE ${ARG_SOURCES})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/include)
  set_target_properties(${name} PROPERTIES PREFIX "lib"
    LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/lib)
endfunction()

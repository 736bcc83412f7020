# gradlab_add_plugin(<name> SOURCES <src>... [OUTPUT_DIRECTORY <dir>] [NO_INSTALL]
#                    [CONFORMANCE [CONFORMANCE_ARGS <arg>...]])
#
# Builds a gradlab plugin: a MODULE library linked only against gradlab::sdk,
# named gradlab_<name>.so, with hidden visibility (only the gradlab_plugin entry
# point is exported). In the gradlab source tree it lands in the build tree's
# plugin folder and is installed next to the core; out of tree it goes to
# OUTPUT_DIRECTORY (default: the current binary dir), and the host finds it
# through --plugin-dir or GRADLAB_PLUGIN_PATH.
#
# CONFORMANCE adds a ctest test, <name>_conformance, that loads the library and
# runs gradlab's conformance suites on every layer (finite-difference
# gradients, tensor layout, determinism, backward accumulation), initializer
# and optimizer it registers (gradlab_conformance, built once per project from
# the installed conformance_main.cpp; its options, e.g. `--layer "{type: x,
# units: 3}" --input 4x2`, go in CONFORMANCE_ARGS). Only then is GoogleTest
# needed (find_package(GTest)); it also calls enable_testing().

# The runner's source, installed next to this file.
set(_GRADLAB_CONFORMANCE_MAIN "${CMAKE_CURRENT_LIST_DIR}/conformance_main.cpp")

function(_gradlab_add_plugin name)
  cmake_parse_arguments(ARG "NO_INSTALL;CONFORMANCE" "OUTPUT_DIRECTORY" "SOURCES;CONFORMANCE_ARGS" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "gradlab_add_plugin(${name}): SOURCES is required")
  endif()
  set(target gradlab_plugin_${name})
  add_library(${target} MODULE ${ARG_SOURCES})
  if(TARGET gradlab_sdk)
    target_link_libraries(${target} PRIVATE gradlab_sdk)
  else()
    target_link_libraries(${target} PRIVATE gradlab::sdk)
  endif()
  set(out "${CMAKE_CURRENT_BINARY_DIR}")
  if(ARG_OUTPUT_DIRECTORY)
    set(out "${ARG_OUTPUT_DIRECTORY}")
  elseif(DEFINED GRADLAB_PLUGIN_OUTPUT_DIR)
    set(out "${GRADLAB_PLUGIN_OUTPUT_DIR}")
  endif()
  set_target_properties(${target} PROPERTIES
    OUTPUT_NAME "gradlab_${name}"
    PREFIX ""
    LIBRARY_OUTPUT_DIRECTORY "${out}"
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  set_property(GLOBAL APPEND PROPERTY GRADLAB_PLUGIN_TARGETS ${target})
  if(NOT ARG_NO_INSTALL AND DEFINED GRADLAB_PLUGIN_INSTALL_DIR)
    install(TARGETS ${target} LIBRARY DESTINATION ${GRADLAB_PLUGIN_INSTALL_DIR})
  endif()
  if(ARG_CONFORMANCE)
    if(NOT TARGET gradlab_conformance)
      if(NOT EXISTS "${_GRADLAB_CONFORMANCE_MAIN}")
        message(FATAL_ERROR "gradlab_add_plugin(${name} CONFORMANCE): ${_GRADLAB_CONFORMANCE_MAIN} is missing")
      endif()
      find_package(GTest REQUIRED)
      find_package(Threads REQUIRED)
      add_executable(gradlab_conformance "${_GRADLAB_CONFORMANCE_MAIN}")
      target_include_directories(gradlab_conformance PRIVATE "${gradlab_INCLUDE_DIR}/gradlab/testing")
      target_link_libraries(gradlab_conformance PRIVATE gradlab::core GTest::gtest Threads::Threads)
    endif()
    add_test(NAME ${name}_conformance COMMAND gradlab_conformance $<TARGET_FILE:${target}> ${ARG_CONFORMANCE_ARGS})
  endif()
endfunction()

# A macro around the function: enable_testing() only takes effect in the
# caller's directory scope, not inside a function (CMake 3.25).
macro(gradlab_add_plugin)
  _gradlab_add_plugin(${ARGN})
  set(_gradlab_add_plugin_args ${ARGN})
  if("CONFORMANCE" IN_LIST _gradlab_add_plugin_args)
    enable_testing()
  endif()
  unset(_gradlab_add_plugin_args)
endmacro()

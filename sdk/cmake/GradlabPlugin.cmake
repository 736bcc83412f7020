# gradlab_add_plugin(<name> SOURCES <src>... [OUTPUT_DIRECTORY <dir>] [NO_INSTALL])
#
# Builds a gradlab plugin: a MODULE library linked only against gradlab::sdk,
# named gradlab_<name>.so, with hidden visibility (only the gradlab_plugin entry
# point is exported). In the gradlab source tree it lands in the build tree's
# plugin folder and is installed next to the core; out of tree it goes to
# OUTPUT_DIRECTORY (default: the current binary dir), and the host finds it
# through --plugin-dir or GRADLAB_PLUGIN_PATH.
function(gradlab_add_plugin name)
  cmake_parse_arguments(ARG "NO_INSTALL" "OUTPUT_DIRECTORY" "SOURCES" ${ARGN})
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
endfunction()

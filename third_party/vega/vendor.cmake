# The vendored Vega builds of `gradlab report` (see README.md here): checked at
# configure time, offline, against vendor.json (written by update.sh) and
# package-lock.json. A file edited by hand, or a lock changed without running
# update.sh, stops the configure step.
#
# Sets GRADLAB_VEGA_FILES: the three files, in the order the report loads them.
set(GRADLAB_VEGA_DIR ${CMAKE_CURRENT_LIST_DIR})
set(GRADLAB_VEGA_FILES)

function(_gradlab_vega_fail message)
  message(FATAL_ERROR "third_party/vega: ${message}\n"
                      "Run third_party/vega/update.sh to fetch the builds the lock pins (see docs/report.md).")
endfunction()

file(READ ${GRADLAB_VEGA_DIR}/vendor.json _vega_manifest)
file(READ ${GRADLAB_VEGA_DIR}/package-lock.json _vega_lock)
file(READ ${GRADLAB_VEGA_DIR}/package.json _vega_package)
string(JSON _vega_count LENGTH "${_vega_manifest}" files)
if(NOT _vega_count EQUAL 3)
  _gradlab_vega_fail("vendor.json lists ${_vega_count} files, expected 3")
endif()
math(EXPR _vega_last "${_vega_count} - 1")
foreach(i RANGE ${_vega_last})
  string(JSON _file GET "${_vega_manifest}" files ${i} file)
  string(JSON _package GET "${_vega_manifest}" files ${i} package)
  string(JSON _version GET "${_vega_manifest}" files ${i} version)
  string(JSON _integrity GET "${_vega_manifest}" files ${i} integrity)
  string(JSON _sha256 GET "${_vega_manifest}" files ${i} sha256)
  # The lock pins the same version and tarball, and package.json asks for that version.
  string(JSON _lock_version ERROR_VARIABLE _err GET "${_vega_lock}" packages "node_modules/${_package}" version)
  string(JSON _lock_integrity ERROR_VARIABLE _err GET "${_vega_lock}" packages "node_modules/${_package}" integrity)
  string(JSON _wanted ERROR_VARIABLE _err GET "${_vega_package}" dependencies ${_package})
  if(NOT _lock_version STREQUAL _version OR NOT _lock_integrity STREQUAL _integrity)
    _gradlab_vega_fail("${_file} is ${_package} ${_version}, package-lock.json pins ${_lock_version} (${_lock_integrity})")
  endif()
  if(NOT _wanted STREQUAL _version)
    _gradlab_vega_fail("package.json asks for ${_package} '${_wanted}', the lock and ${_file} hold ${_version}")
  endif()
  set(_path ${GRADLAB_VEGA_DIR}/${_file})
  if(NOT EXISTS ${_path})
    _gradlab_vega_fail("${_file} is missing")
  endif()
  file(SHA256 ${_path} _actual)
  if(NOT _actual STREQUAL _sha256)
    _gradlab_vega_fail("${_file} has SHA-256 ${_actual}, vendor.json says ${_sha256} (${_package} ${_version})")
  endif()
  # The build names its own version, and can be inlined in a <script> element
  # as it is: no "</script" and no "<!--" in it.
  file(READ ${_path} _content)
  string(FIND "${_content}" "\"${_version}\"" _at)
  if(_at EQUAL -1)
    _gradlab_vega_fail("${_file} does not name version ${_version}")
  endif()
  string(TOLOWER "${_content}" _content)
  string(FIND "${_content}" "</script" _close)
  string(FIND "${_content}" "<!--" _comment)
  if(NOT _close EQUAL -1 OR NOT _comment EQUAL -1)
    _gradlab_vega_fail("${_file} holds \"</script\" or \"<!--\": it cannot be inlined in the report as it is")
  endif()
  list(APPEND GRADLAB_VEGA_FILES ${_path})
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${_path})
  message(STATUS "gradlab report: ${_package} ${_version} (${_file}, SHA-256 ok)")
endforeach()
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             ${GRADLAB_VEGA_DIR}/vendor.json ${GRADLAB_VEGA_DIR}/package-lock.json ${GRADLAB_VEGA_DIR}/package.json)
unset(_vega_manifest)
unset(_vega_lock)
unset(_content)

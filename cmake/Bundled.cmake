# bundled_library(NAME TARGET): builds the library pinned in
# cmake/bundled/versions.cmake (NAME librdkafka or libbpf) and defines the
# imported static library TARGET with its headers and link dependencies.
#
# The build happens at configure time, once per version, checksum and option
# set, in a cache shared by every build directory of the machine (build/,
# build-asan/, build-fuzz/, the VM test's lower-version build). A fresh
# machine fills the cache by itself: the first configure downloads the
# tarball, verifies it and builds (librdkafka: about 1.5 minutes on 2 cores).
# The libraries are built without the sanitizer or fuzzer flags of the build
# directory: they are not what those builds test, and one copy serves all.

# Root shares one cache per machine; anyone else keeps one in their home.
execute_process(COMMAND id -u OUTPUT_VARIABLE _bundled_uid OUTPUT_STRIP_TRAILING_WHITESPACE)
if(_bundled_uid STREQUAL "0")
  set(_bundled_default_cache /var/cache/tcpstates-agent-deps)
elseif(DEFINED ENV{XDG_CACHE_HOME})
  set(_bundled_default_cache $ENV{XDG_CACHE_HOME}/tcpstates-agent-deps)
else()
  set(_bundled_default_cache $ENV{HOME}/.cache/tcpstates-agent-deps)
endif()
set(TCPSTATES_DEPS_CACHE ${_bundled_default_cache} CACHE PATH
    "Where the bundled libraries' tarballs and builds are kept between builds")

find_package(OpenSSL 3 REQUIRED)
find_package(ZLIB REQUIRED)
# zstd statically: Debian's libzstd1 declares every symbol as needing 1.5.2
# (shlibs), which Ubuntu 22.04 (1.4.8) cannot satisfy.
find_library(ZSTD_LIBRARY NAMES libzstd.a REQUIRED)
find_library(ELF_LIBRARY elf REQUIRED)
include(${CMAKE_CURRENT_LIST_DIR}/bundled/versions.cmake)

# The tarballs come from the Debian archive this machine's apt uses.
if(NOT TCPSTATES_DEBIAN_ARCHIVE)
  execute_process(COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/debian-archive.sh
                  OUTPUT_VARIABLE _bundled_archive OUTPUT_STRIP_TRAILING_WHITESPACE
                  RESULT_VARIABLE _bundled_archive_status)
  if(NOT _bundled_archive_status EQUAL 0)
    set(_bundled_archive "")
  endif()
endif()
set(TCPSTATES_DEBIAN_ARCHIVE ${_bundled_archive} CACHE STRING
    "Debian archive URI the bundled libraries' source tarballs are downloaded from")
set(_bundled_script ${CMAKE_CURRENT_LIST_DIR}/bundled/build.sh)

# _bundled_fetch(NAME URL SHA256 OUT): the verified tarball's path in OUT.
# A tarball already in the cache is checked again: a corrupt or swapped file
# is refused rather than built.
function(_bundled_fetch name url sha256 out)
  get_filename_component(file ${url} NAME)
  set(path ${TCPSTATES_DEPS_CACHE}/src/${file})
  if(EXISTS ${path})
    file(SHA256 ${path} have)
    if(have STREQUAL sha256)
      set(${out} ${path} PARENT_SCOPE)
      return()
    endif()
    message(WARNING "${path}: SHA-256 ${have}, expected ${sha256}: downloading it again")
    file(REMOVE ${path})
  endif()
  if(NOT TCPSTATES_DEBIAN_ARCHIVE)
    message(FATAL_ERROR "Bundled ${name}: apt names no Debian archive to download ${file} from: "
                        "set -DTCPSTATES_DEBIAN_ARCHIVE=URI, or put ${file} (SHA-256 ${sha256}) "
                        "into ${TCPSTATES_DEPS_CACHE}/src/")
  endif()
  message(STATUS "Bundled ${name}: downloading ${url}")
  file(DOWNLOAD ${url} ${path}.part STATUS status TLS_VERIFY ON
       EXPECTED_HASH SHA256=${sha256})
  list(GET status 0 code)
  if(NOT code EQUAL 0)
    list(GET status 1 why)
    file(REMOVE ${path}.part)
    message(FATAL_ERROR "Bundled ${name}: cannot download ${url}: ${why}. "
                        "Put ${file} (SHA-256 ${sha256}) into ${TCPSTATES_DEPS_CACHE}/src/ "
                        "or set TCPSTATES_DEPS_CACHE to a cache that has it.")
  endif()
  file(RENAME ${path}.part ${path})
  set(${out} ${path} PARENT_SCOPE)
endfunction()

function(bundled_library name target)
  string(TOUPPER ${name} var)
  set(version ${BUNDLED_${var}_VERSION})
  set(sha256 ${BUNDLED_${var}_SHA256})
  set(options ${BUNDLED_${var}_OPTIONS})
  _bundled_fetch(${name} ${TCPSTATES_DEBIAN_ARCHIVE}/${BUNDLED_${var}_POOL_PATH} ${sha256} tarball)

  # The key names everything the result depends on: the source, the options,
  # the build recipe and the compiler that builds it.
  file(SHA256 ${_bundled_script} script_sha)
  execute_process(COMMAND cc --version OUTPUT_VARIABLE cc_version ERROR_QUIET)
  string(SHA256 key "${sha256};${options};${script_sha};${cc_version}")
  string(SUBSTRING ${key} 0 16 key)
  set(prefix ${TCPSTATES_DEPS_CACHE}/${name}-${version}-${key})

  if(NOT EXISTS ${prefix}/.complete)
    message(STATUS "Bundled ${name} ${version}: building into ${prefix}")
    cmake_host_system_information(RESULT jobs QUERY NUMBER_OF_LOGICAL_CORES)
    execute_process(
      # cc, the compiler the key names, whatever CC the build directory uses.
      COMMAND ${CMAKE_COMMAND} -E env CC=cc
              bash ${_bundled_script} ${name} ${tarball} ${prefix} ${jobs} ${options}
      OUTPUT_FILE ${CMAKE_BINARY_DIR}/bundled-${name}.log
      ERROR_FILE ${CMAKE_BINARY_DIR}/bundled-${name}.log
      RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "Bundled ${name} ${version}: build failed (exit ${rc}); "
                          "see ${CMAKE_BINARY_DIR}/bundled-${name}.log")
    endif()
  endif()
  message(STATUS "Bundled ${name} ${version}: ${prefix}")

  add_library(${target} STATIC IMPORTED GLOBAL)
  set_target_properties(${target} PROPERTIES
    IMPORTED_LOCATION ${prefix}/lib/${name}.a
    INTERFACE_INCLUDE_DIRECTORIES ${prefix}/include
    INTERFACE_LINK_LIBRARIES "${BUNDLED_${var}_LINK}")
  set(BUNDLED_${var}_INCLUDE_DIR ${prefix}/include PARENT_SCOPE)
endfunction()

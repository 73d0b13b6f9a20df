# bpf_object(NAME SOURCE [DEPENDS headers...])
#
# Compiles SOURCE into a CO-RE BPF object with clang, generates its skeleton
# with `bpftool gen skeleton`, and defines an INTERFACE target NAME_skel whose
# include directory holds NAME.skel.h. The object is embedded in the skeleton,
# so binaries that link NAME_skel need no file at run time.

find_program(BPF_CLANG NAMES clang clang-16 clang-15 clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /usr/local/sbin REQUIRED)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|amd64")
  set(BPF_TARGET_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(BPF_TARGET_ARCH arm64)
else()
  set(BPF_TARGET_ARCH ${CMAKE_SYSTEM_PROCESSOR})
endif()

# vmlinux.h only has to declare the kernel types the program names: CO-RE
# relocates every field access against the target kernel's BTF at load time,
# so one header works on every kernel with BTF. It is generated from the build
# host's BTF rather than vendored (a 3+ MB file per architecture); a build host
# without /sys/kernel/btf/vmlinux passes -DTCPSTATES_VMLINUX_H=/path/vmlinux.h.
set(TCPSTATES_VMLINUX_H "" CACHE FILEPATH "Pre-generated vmlinux.h (default: dump from /sys/kernel/btf/vmlinux)")
set(BPF_VMLINUX_DIR ${CMAKE_BINARY_DIR}/vmlinux)
if(TCPSTATES_VMLINUX_H)
  configure_file(${TCPSTATES_VMLINUX_H} ${BPF_VMLINUX_DIR}/vmlinux.h COPYONLY)
else()
  if(NOT EXISTS /sys/kernel/btf/vmlinux)
    message(FATAL_ERROR "No /sys/kernel/btf/vmlinux on this build host: pass -DTCPSTATES_VMLINUX_H=<vmlinux.h>")
  endif()
  add_custom_command(
    OUTPUT ${BPF_VMLINUX_DIR}/vmlinux.h
    COMMAND ${CMAKE_COMMAND} -E make_directory ${BPF_VMLINUX_DIR}
    COMMAND ${BPFTOOL} btf dump file /sys/kernel/btf/vmlinux format c > ${BPF_VMLINUX_DIR}/vmlinux.h
    COMMENT "Generating vmlinux.h from the build host's BTF"
    VERBATIM)
endif()
add_custom_target(vmlinux_h DEPENDS ${BPF_VMLINUX_DIR}/vmlinux.h)

function(bpf_object name source)
  cmake_parse_arguments(ARG "" "" "DEPENDS" ${ARGN})
  set(out_dir ${CMAKE_CURRENT_BINARY_DIR}/${name})
  set(obj ${out_dir}/${name}.bpf.o)
  set(skel ${out_dir}/${name}.skel.h)
  get_filename_component(src_abs ${source} ABSOLUTE)
  get_filename_component(src_dir ${src_abs} DIRECTORY)

  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${out_dir}
    COMMAND ${BPF_CLANG} -g -O2 -target bpf -D__TARGET_ARCH_${BPF_TARGET_ARCH}
            -Wall -Werror
            -I${BPF_VMLINUX_DIR} -I${BUNDLED_LIBBPF_INCLUDE_DIR} -I${src_dir}
            -c ${src_abs} -o ${obj}
    DEPENDS ${src_abs} ${ARG_DEPENDS} ${BPF_VMLINUX_DIR}/vmlinux.h
    COMMENT "BPF ${name}.bpf.o"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${BPFTOOL} gen skeleton ${obj} name ${name} > ${skel}
    DEPENDS ${obj}
    COMMENT "Skeleton ${name}.skel.h"
    VERBATIM)
  add_custom_target(${name}_skel_gen DEPENDS ${skel})
  # vmlinux.h is generated in the top directory: a file dependency alone does
  # not cross directories, the target dependency orders the build.
  add_dependencies(${name}_skel_gen vmlinux_h)
  add_library(${name}_skel INTERFACE)
  add_dependencies(${name}_skel ${name}_skel_gen)
  target_include_directories(${name}_skel INTERFACE ${out_dir})
  target_link_libraries(${name}_skel INTERFACE bundled::libbpf)
endfunction()

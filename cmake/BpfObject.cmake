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
# so one header works on every kernel with BTF. The build uses the header
# committed in bpf/vmlinux/<arch>/, generated from a named Debian kernel by
# bpf/vmlinux/gen-vmlinux-h.sh, and never reads the build machine's
# /sys/kernel/btf: a distribution's build chroot or a container on a kernel
# without BTF builds the same object. -DTCPSTATES_VMLINUX_H=<file> overrides it.
set(TCPSTATES_VMLINUX_H "" CACHE FILEPATH
    "vmlinux.h to compile the BPF programs against (default: bpf/vmlinux/<arch>/vmlinux.h)")
set(BPF_VMLINUX_DIR ${CMAKE_BINARY_DIR}/vmlinux)
set(bpf_vmlinux_src ${TCPSTATES_VMLINUX_H})
if(NOT bpf_vmlinux_src)
  set(bpf_vmlinux_src ${CMAKE_SOURCE_DIR}/bpf/vmlinux/${BPF_TARGET_ARCH}/vmlinux.h)
endif()
if(NOT EXISTS ${bpf_vmlinux_src})
  message(FATAL_ERROR "No vmlinux.h at ${bpf_vmlinux_src}: bpf/vmlinux/ has headers for x86 "
                      "only; generate one for ${BPF_TARGET_ARCH} the way "
                      "bpf/vmlinux/gen-vmlinux-h.sh does, or pass -DTCPSTATES_VMLINUX_H=<vmlinux.h>")
endif()
# Copied so that the include directory holds only this header.
configure_file(${bpf_vmlinux_src} ${BPF_VMLINUX_DIR}/vmlinux.h COPYONLY)
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

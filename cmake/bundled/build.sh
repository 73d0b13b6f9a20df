#!/usr/bin/env bash
# build.sh NAME TARBALL PREFIX JOBS [CONFIGURE_OPTION...]
#
# Builds one bundled library (cmake/bundled/versions.cmake pins it) from its
# verified source tarball and installs its static library and headers into
# PREFIX. Called by cmake/Bundled.cmake at configure time. PREFIX is a
# directory of the shared cache that is named after the version, the checksum
# and the options, so a finished PREFIX never needs building again. Several
# build directories may configure at once: a lock serialises them, and the
# result appears under PREFIX only once it is complete.
set -euo pipefail

name=$1 tarball=$2 prefix=$3 jobs=$4
shift 4

mkdir -p "$(dirname "$prefix")"
exec 9>"$prefix.lock"
flock 9
if [ -e "$prefix/.complete" ]; then
	exit 0
fi

work=$(mktemp -d "$prefix.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
src=$work/src stage=$work/install
mkdir -p "$src" "$stage"
tar -xzf "$tarball" -C "$src" --strip-components=1

# The same hardening as the agent (CMakeLists.txt); -fPIC because the
# objects end up in position-independent executables.
export CFLAGS="-O2 -g -fPIC -fstack-protector-strong -D_FORTIFY_SOURCE=2"

case $name in
librdkafka)
	(cd "$src" && ./configure --prefix="$stage" --no-download "$@" &&
		make -C src -j"$jobs" librdkafka.a)
	install -D -m 0644 "$src/src/librdkafka.a" "$stage/lib/librdkafka.a"
	install -D -m 0644 "$src/src/rdkafka.h" "$stage/include/librdkafka/rdkafka.h"
	install -D -m 0644 "$src/src/rdkafka_mock.h" "$stage/include/librdkafka/rdkafka_mock.h"
	;;
libbpf)
	make -C "$src/src" -j"$jobs" BUILD_STATIC_ONLY=y OBJDIR="$work/obj" \
		DESTDIR="$stage" PREFIX= LIBDIR=/lib INCLUDEDIR=/include "$@" install
	;;
*)
	echo "build.sh: unknown bundled library '$name'" >&2
	exit 2
	;;
esac

rm -rf "$prefix"
mv "$stage" "$prefix"
touch "$prefix/.complete"

# The libraries linked statically into the agent, tcpstates-consume and the
# Kafka peer: the one place that pins them. Each is Debian's source package of
# that version (the upstream tarball Debian ships as .orig; Debian's patches
# only swap vendored cJSON/nanopb for Debian's own, so none are applied).
# cmake/Bundled.cmake downloads the tarball, refuses it unless its SHA-256
# matches, and builds it with the options below. packaging/README.md says why
# these two are bundled and what a security update of each then takes.
#
# To update: take the new version from `apt-cache showsrc NAME` with a deb-src
# line for forky or sid, copy its .orig tarball's Checksums-Sha256 entry here,
# and change the pool path's file name. The path is relative to the Debian
# archive apt uses on the build machine (cmake/debian-archive.sh), or to
# TCPSTATES_DEBIAN_ARCHIVE.
#
# The archive's pool keeps a version only while some suite ships it: once sid
# and forky move past a pin, a machine with an empty cache cannot fetch it.
# Then move the pin to what they ship, or put the tarball into
# <TCPSTATES_DEPS_CACHE>/src/ (a copy from Debian's snapshot archive).

set(BUNDLED_LIBRDKAFKA_VERSION 2.14.2)
set(BUNDLED_LIBRDKAFKA_DEBIAN_VERSION 2.14.2-1)
set(BUNDLED_LIBRDKAFKA_POOL_PATH pool/main/libr/librdkafka/librdkafka_2.14.2.orig.tar.gz)
set(BUNDLED_LIBRDKAFKA_SHA256 4d53568c13717b167d12c7b2a0fe12aeb5d6bfe02de53df5b68f86d870a81b33)
# No Cyrus SASL (libsasl2.so.2 on Debian, .so.3 on RHEL): GSSAPI/Kerberos is
# therefore unavailable; PLAIN, SCRAM and OAUTHBEARER are built in. No libcurl:
# sasl.oauthbearer.method=oidc and the https certificate/JWKS fetchers are
# unavailable. lz4 is librdkafka's own copy. OpenSSL and zlib come from the
# system (same soname on every target, security updates from the
# distribution); zstd is linked from Debian's libzstd.a (see Bundled.cmake). C11 threads would add a GLIBC_2.34 dependency for nothing:
# librdkafka's pthread wrapper does the same.
set(BUNDLED_LIBRDKAFKA_OPTIONS
    --disable-gssapi --disable-curl --disable-lz4-ext --disable-c11threads
    --enable-ssl --enable-zlib --enable-zstd)
# What librdkafka.a needs at link time with those options (Bundled.cmake
# finds them before it reads this file).
set(BUNDLED_LIBRDKAFKA_LINK OpenSSL::SSL OpenSSL::Crypto ZLIB::ZLIB ${ZSTD_LIBRARY} m dl rt Threads::Threads)

set(BUNDLED_LIBBPF_VERSION 1.7.0)
set(BUNDLED_LIBBPF_DEBIAN_VERSION 1.7.0-1)
set(BUNDLED_LIBBPF_POOL_PATH pool/main/libb/libbpf/libbpf_1.7.0.orig.tar.gz)
set(BUNDLED_LIBBPF_SHA256 7ab5feffbf78557f626f2e3e3204788528394494715a30fc2070fcddc2051b7b)
set(BUNDLED_LIBBPF_OPTIONS)
set(BUNDLED_LIBBPF_LINK ${ELF_LIBRARY} ZLIB::ZLIB)

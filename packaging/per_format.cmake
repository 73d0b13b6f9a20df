# Run by cpack once per generator, after the project is installed into the
# staging directory and before the package is built (CPACK_PRE_BUILD_SCRIPTS):
# the place for what differs between the deb and the rpm. DESTDIR is still
# set here, so files are placed with file(COPY_FILE), which ignores it.
set(stage ${CPACK_TEMPORARY_INSTALL_DIRECTORY})

if(CPACK_GENERATOR STREQUAL "DEB")
  # Debian 12 ships units in /lib/systemd/system (its merged-/usr moratorium
  # keeps packages off /usr/lib for now); rpm and `cmake --install` use
  # <prefix>/lib/systemd/system.
  file(MAKE_DIRECTORY ${stage}/lib/systemd)
  file(RENAME ${stage}/usr/lib/systemd/system ${stage}/lib/systemd/system)
  file(REMOVE_RECURSE ${stage}/usr/lib)
  # Debian policy 12.7: the changelog belongs in the package's doc directory.
  # The version carries no Debian revision, so this is a native package and
  # the file is changelog.gz rather than changelog.Debian.gz.
  file(COPY_FILE ${CPACK_TCPSTATES_DEB_CHANGELOG}
       ${stage}/usr/share/doc/tcpstates-agent/changelog.gz)
  # Overrides ship only when some tag needs one (each with its reason).
  if(EXISTS ${CPACK_TCPSTATES_LINTIAN_OVERRIDES})
    file(MAKE_DIRECTORY ${stage}/usr/share/lintian/overrides)
    file(COPY_FILE ${CPACK_TCPSTATES_LINTIAN_OVERRIDES}
         ${stage}/usr/share/lintian/overrides/tcpstates-agent)
  endif()
endif()

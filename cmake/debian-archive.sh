#!/bin/sh
# Prints the URI of the Debian archive that this machine's apt uses, without
# a trailing slash: the archive that serves the release itself (its pool/ and
# dists/), not the security one. The bundled libraries' sources, the test
# roots and the VM images come from there, so a build or test machine needs
# no address beyond what apt is already set up with.
set -eu
# shellcheck disable=SC2016 # apt's own $(FIELD) placeholders, not the shell's
format='$(REPO_URI) $(SUITE)'
# Sources whose Release file apt has not fetched yet (no apt-get update on
# this machine) are listed only without their release information.
uri=$({
	apt-get indextargets --format "$format" 2>/dev/null
	apt-get -o APT::Get::IndexTargets::ReleaseInfo=false indextargets --format "$format" 2>/dev/null
} | awk '$1 !~ /security/ && $2 !~ /-security$/ { print $1; exit }')
if [ -z "$uri" ]; then
	echo "debian-archive: apt has no Debian archive configured in /etc/apt/sources.list{,.d}" >&2
	exit 1
fi
echo "${uri%/}"

# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# shellcheck shell=sh
# %preun: $1 is 0 when the package is erased, 1 or more during an upgrade.
if [ "$1" -eq 0 ]; then
	systemctl --no-reload disable --now tcpstates-agent.service >/dev/null 2>&1 || :
fi

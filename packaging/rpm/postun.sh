# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# shellcheck shell=sh
# %postun: $1 is 0 after erase, 1 or more after an upgrade, when a running
# service is restarted so the new binary runs. RPM has no purge: the spool
# under /var/lib stays after erase, like other packages' state.
if [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null 2>&1 || :
	if [ "$1" -ge 1 ]; then
		systemctl try-restart tcpstates-agent.service >/dev/null 2>&1 || :
	fi
fi

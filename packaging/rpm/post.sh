# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# shellcheck shell=sh
# %post: $1 is 1 on a fresh install, 2 or more on upgrade. A fresh install
# enables the service without starting it: agent.yaml must name the brokers.
if [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null 2>&1 || :
fi
if [ "$1" -eq 1 ]; then
	systemctl --no-reload enable tcpstates-agent.service >/dev/null 2>&1 || :
fi

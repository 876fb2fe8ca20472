# Sourced by the test services' scripts: daemons they start, tracked by pid file.
#
#   pid_alive PIDFILE          true while the process it names runs
#   pid_stop PIDFILE [SECS]    SIGTERM, SIGKILL after SECS (default 20), remove the file

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

pid_stop() {
	local pidf=$1 secs=${2:-20} pid
	if pid_alive "$pidf"; then
		pid=$(cat "$pidf")
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 1 $((secs * 4))); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.25
		done
		kill -9 "$pid" 2>/dev/null || true
	fi
	rm -f "$pidf"
}

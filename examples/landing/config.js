// Where the launcher is. A deployment serves its own copy of this file;
// ./dev demo writes one pointing at the demo's launcher.
window.BERTH_LAUNCHER_URL = window.BERTH_LAUNCHER_URL || 'http://127.0.0.1:8080';

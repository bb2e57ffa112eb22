"""Reports over the store: the weekly health summary for leadership and the integration risk register."""

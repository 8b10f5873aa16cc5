"""Pure domain: statuses and transitions, records, events, failures, plan-file input."""

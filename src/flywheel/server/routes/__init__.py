"""One router per concern: events, search, feedback, page."""

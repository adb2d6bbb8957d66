"""The incident timeline (issue 17): what changed, who changed it, and what fired after it."""

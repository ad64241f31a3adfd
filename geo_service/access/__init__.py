"""Who may see what: accounts, keys and sessions, the one scoping policy, and the audit log."""

"""Identity and access: users, roles, authentication, break-glass and the audit log."""

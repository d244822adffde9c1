"""The centre: agents and roles, actions, the audit ledger, the app factory and CLI."""

// Provisioning: see the module's files (issue 8).

// Enrollment (agency side): photos → the device's own detector + embedder → a signed bundle.

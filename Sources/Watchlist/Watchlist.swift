// Watchlist: what the device matches faces against (issue 5).
//
//   agency                                   device
//   photos ─▶ Enrollment ─▶ Bundle.build ─▶  sync ─▶ WatchlistStore.install ─▶ WatchlistIndex.search
//                               │ Ed25519 (authority key)     │ verify signature, version > highest
//                               ▼                             │ ever installed, not expired, same
//                        signed bundle file                   │ embedder; ChaCha20-Poly1305 at rest,
//                                                             ▼ atomic activation, previous kept
//
// No names ever reach the device: entries carry an opaque id, a legal-basis reference, a
// category and an expiry. The format is documented byte by byte in docs/WATCHLIST-BUNDLE.md.

// WatchlistSync: the device's overnight watchlist download (issue 5, point 6). See Sync.swift.

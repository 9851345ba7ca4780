import Testing
import Watchlist

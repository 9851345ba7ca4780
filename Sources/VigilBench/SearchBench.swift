// Watchlist search entry points of the benchmark library (see VigilBench.swift): bench_search.py
// builds the same int8 matrix in Vigil's WatchlistIndex and in FAISS and times them alternately in
// one process. The index is built from the caller's buffers through the public Swift API (the
// path the agent uses); a search call writes straight into the caller's arrays.
import Watchlist

/// Builds an index over `rows` x `dim` int8 values and one scale per row; nil on error.
@_cdecl("vigil_bench_search_open")
public func vigilBenchSearchOpen(_ matrix: UnsafePointer<Int8>?, _ scales: UnsafePointer<Float>?, _ rows: Int64,
                                 _ dim: Int32) -> UnsafeMutableRawPointer? {
    guard let matrix, let scales, rows >= 0, dim > 0 else { return nil }
    let m = Array(UnsafeBufferPointer(start: matrix, count: Int(rows) * Int(dim)))
    let s = Array(UnsafeBufferPointer(start: scales, count: Int(rows)))
    do {
        let ix = try WatchlistIndex(rows: Int(rows), dimension: Int(dim), matrix: m, rowScales: s)
        return Unmanaged.passRetained(ix).toOpaque()
    } catch {
        print("vigil_bench_search_open: \(error)")
        return nil
    }
}

/// Searches `nq` queries ([nq][dim] int8, scales [nq]) for the top `k`; writes rows ([nq][k]) and
/// scores. Returns the count per query, or -1. (Straight to the C kernel: the Swift wrapper's
/// array results would add allocations the FAISS side does not make either.)
@_cdecl("vigil_bench_search")
public func vigilBenchSearch(_ handle: UnsafeMutableRawPointer?, _ queries: UnsafePointer<Int8>?,
                             _ scales: UnsafePointer<Float>?, _ nq: Int32, _ k: Int32,
                             _ outRows: UnsafeMutablePointer<Int32>?, _ outScores: UnsafeMutablePointer<Float>?) -> Int32 {
    guard let handle else { return -1 }
    let ix = Unmanaged<WatchlistIndex>.fromOpaque(handle).takeUnretainedValue()
    return ix.searchRaw(queries: queries, scales: scales, count: nq, k: k, rows: outRows, scores: outScores)
}

/// The path the index runs (vk_isa_*).
@_cdecl("vigil_bench_search_isa")
public func vigilBenchSearchISA(_ handle: UnsafeMutableRawPointer?) -> Int32 {
    guard let handle else { return -1 }
    return Unmanaged<WatchlistIndex>.fromOpaque(handle).takeUnretainedValue().isa.rawValue
}

@_cdecl("vigil_bench_search_close")
public func vigilBenchSearchClose(_ handle: UnsafeMutableRawPointer?) {
    guard let handle else { return }
    Unmanaged<WatchlistIndex>.fromOpaque(handle).release()
}

/// Single-core read bandwidth (bytes per second) over a `bytes` buffer, best of `passes`.
@_cdecl("vigil_bench_read_bandwidth")
public func vigilBenchReadBandwidth(_ bytes: Int64, _ passes: Int32) -> Double {
    WatchlistIndex.readBandwidth(bytes: Int(bytes), passes: Int(passes))
}

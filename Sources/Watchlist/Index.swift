// The watchlist index: exact int8 top-k cosine search over the installed bundle's embeddings.
//
// Why int8 and exact: 1M entries x 128 dims is 128 MB in int8 (512 MB in float32), and one query
// must stream all of it, so the search is memory-bound — int8 is 4x less to read. Exact (no
// approximate index) because a hit is a lead for human review: a face that matches must never be
// missed by an index approximation. The kernels live in CKernels (search.c): blocks of 16 rows
// packed once, top-k kept inside the scan, a batch of queries reading the matrix once.
import CKernels

/// One result: the row of the matrix (the entry's position in the bundle) and its score, the
/// approximate cosine similarity `Float(dot(q, m)) * (queryScale * rowScale)`.
public struct SearchHit: Sendable, Equatable {
    public let row: Int
    public let score: Float
    public init(row: Int, score: Float) {
        self.row = row
        self.score = score
    }
}

/// Why an index could not be built or searched.
public enum WatchlistIndexError: Error, Equatable, CustomStringConvertible {
    /// `rows` or `dimension` out of range (rows >= 0, 1 <= dimension <= 65536).
    case badShape(rows: Int, dimension: Int)
    /// The matrix must hold rows x dimension values and the scales one per row.
    case badSize(expected: Int, got: Int)
    /// A scale is NaN, infinite or beyond 1e18 in magnitude (scores would not be ordered).
    case badScale
    /// The C index could not get its memory.
    case outOfMemory

    public var description: String {
        switch self {
        case let .badShape(rows, dimension): "watchlist index: bad shape \(rows) rows x \(dimension) dimensions"
        case let .badSize(expected, got): "watchlist index: expected \(expected) values, got \(got)"
        case .badScale: "watchlist index: a scale is not finite or too large"
        case .outOfMemory: "watchlist index: out of memory"
        }
    }
}

/// An exact int8 top-k index (the C `vk_index`, freed in deinit).
///
/// Every instruction-set path gives bit-identical results, so a hit found on the device is the hit
/// the agency's tools find for the same bundle: score(q, r) = Float(Σ q[d]·m[r][d]) (exact int32)
/// × (queryScale × rowScale[r]); the best `k` by score, ties to the lower row.
/// Immutable after init, so searching from several threads at once is safe.
public final class WatchlistIndex: @unchecked Sendable {
    private let handle: OpaquePointer
    public let rows: Int
    public let dimension: Int

    /// Instruction-set paths (CKernels' `vk_isa_*`): `auto` picks the CPU's best; a path the CPU
    /// lacks falls back to the best it has (`isa` says which one runs).
    public enum ISA: Int32, Sendable {
        case auto = 0, scalar = 1, avx2 = 2, avx512vnni = 3, neon = 4, neonDot = 5
    }

    /// The path this index runs.
    public var isa: ISA { ISA(rawValue: vk_index_isa(handle)) ?? .scalar }

    /// Packs `matrix` (`rows` x `dimension` int8 values, row-major) and one scale per row.
    public init(rows: Int, dimension: Int, matrix: [Int8], rowScales: [Float], isa: ISA = .auto) throws {
        guard rows >= 0, rows <= Int(Int32.max) - 64, dimension >= 1, dimension <= 65536 else {
            throw WatchlistIndexError.badShape(rows: rows, dimension: dimension)
        }
        guard matrix.count == rows * dimension else {
            throw WatchlistIndexError.badSize(expected: rows * dimension, got: matrix.count)
        }
        guard rowScales.count == rows else { throw WatchlistIndexError.badSize(expected: rows, got: rowScales.count) }
        guard rowScales.allSatisfy(Self.scaleIsValid) else { throw WatchlistIndexError.badScale }
        let h = matrix.withUnsafeBufferPointer { m in
            rowScales.withUnsafeBufferPointer { s in
                vk_index_create(Int32(rows), Int32(dimension), m.baseAddress, s.baseAddress, isa.rawValue)
            }
        }
        guard let h else { throw WatchlistIndexError.outOfMemory }
        handle = h
        self.rows = rows
        self.dimension = dimension
    }

    deinit { vk_index_destroy(handle) }

    static func scaleIsValid(_ s: Float) -> Bool { s.isFinite && abs(s) <= 1e18 }

    /// The best `k` rows for one query (`dimension` int8 values and its scale), best first; fewer
    /// when the index has fewer rows. An empty result for a wrong-sized query, k <= 0 or a bad scale.
    public func search(_ query: [Int8], scale: Float, k: Int) -> [SearchHit] {
        search(batch: query, scales: [scale], k: k).first ?? []
    }

    /// A batch (all faces of a frame): `queries` holds `scales.count` queries back to back. The
    /// matrix is read once for the whole batch, which is what makes a batch several times cheaper
    /// per query than single searches. One result list per query (empty lists for bad input).
    public func search(batch queries: [Int8], scales: [Float], k: Int) -> [[SearchHit]] {
        let nq = scales.count
        guard nq > 0, k > 0, k <= Int(Int32.max) / max(nq, 1), queries.count == nq * dimension,
              scales.allSatisfy(Self.scaleIsValid) else {
            return Array(repeating: [], count: nq)
        }
        var outRows = [Int32](repeating: -1, count: nq * k)
        var outScores = [Float](repeating: 0, count: nq * k)
        let count = queries.withUnsafeBufferPointer { q in
            scales.withUnsafeBufferPointer { s in
                outRows.withUnsafeMutableBufferPointer { r in
                    outScores.withUnsafeMutableBufferPointer { f in
                        vk_index_search(handle, q.baseAddress, s.baseAddress, Int32(nq), Int32(k), r.baseAddress, f.baseAddress)
                    }
                }
            }
        }
        guard count >= 0 else { return Array(repeating: [], count: nq) }
        let n = Int(count)
        return (0..<nq).map { i in
            (0..<n).map { j in SearchHit(row: Int(outRows[i * k + j]), score: outScores[i * k + j]) }
        }
    }

    /// The search on caller-owned buffers (benchmarks, FFI): `count` queries of `dimension` values
    /// and their scales in, rows and scores ([count][k]) out, no Swift arrays allocated. Returns
    /// the count per query, min(k, rows), or -1 on bad arguments. The caller guarantees the sizes.
    public func searchRaw(queries: UnsafePointer<Int8>?, scales: UnsafePointer<Float>?, count: Int32, k: Int32,
                          rows outRows: UnsafeMutablePointer<Int32>?, scores: UnsafeMutablePointer<Float>?) -> Int32 {
        vk_index_search(handle, queries, scales, count, k, outRows, scores)
    }

    /// Single-core memory read bandwidth in bytes per second (a `bytes` buffer streamed `passes`
    /// times with the widest loads the CPU has, the best pass): the floor of a one-query search
    /// is the matrix size divided by this.
    public static func readBandwidth(bytes: Int = 512 << 20, passes: Int = 3) -> Double {
        vk_read_bandwidth(Int64(bytes), Int32(passes))
    }

    /// Quantizes an L2-normalised float embedding to int8 with one scale per vector:
    /// scale = max|x| / 127, q = round(x / scale) (to nearest, ties to even), so the largest
    /// component maps to ±127 and the whole int8 range serves this vector (a fixed 1/127 scale
    /// would waste most of it: components of a 128-d unit vector are rarely above 0.4). -128 is
    /// never produced. Dot products of such vectors times both scales approximate the cosine.
    /// An all-zero (or empty) vector gives zeros with scale 1; non-finite components count as 0.
    public static func quantize(_ embedding: [Float]) -> (values: [Int8], scale: Float) {
        var maxAbs: Float = 0
        for x in embedding where x.isFinite { maxAbs = max(maxAbs, abs(x)) }
        guard maxAbs > 0 else { return (Array(repeating: 0, count: embedding.count), 1) }
        let scale = maxAbs / 127
        let values = embedding.map { x -> Int8 in
            guard x.isFinite else { return 0 }
            let v = (x / scale).rounded(.toNearestOrEven)
            return Int8(min(max(v, -127), 127))
        }
        return (values, scale)
    }
}

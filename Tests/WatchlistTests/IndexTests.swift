// WatchlistIndex: every instruction-set path this machine has against the scalar path (the
// specification) — identical rows and identical float scores — and the specification itself
// against a brute-force Swift loop. Release build: public API only.
import Testing
import Watchlist

/// A small deterministic generator (xorshift), so failures reproduce.
private struct Rand {
    var s: UInt64
    mutating func next() -> UInt64 { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return s }
    mutating func int(_ r: ClosedRange<Int>) -> Int { r.lowerBound + Int(next() % UInt64(r.count)) }
    mutating func int8() -> Int8 { Int8(truncatingIfNeeded: next() >> 11) }
    mutating func scale() -> Float { Float(int(1...100_000)) / 1e6 }
}

private let paths: [WatchlistIndex.ISA] = [.avx2, .avx512vnni, .neon, .neonDot]

/// The specification in Swift: exact Int32 dot, Float(dot) * (qs * rs), best first, ties to lower row.
private func bruteForce(_ m: [Int8], _ rs: [Float], dim: Int, _ q: [Int8], _ qs: Float, k: Int) -> [SearchHit] {
    let rows = rs.count
    var all: [SearchHit] = (0..<rows).map { r in
        var dot: Int32 = 0
        for d in 0..<dim { dot &+= Int32(q[d]) * Int32(m[r * dim + d]) }
        return SearchHit(row: r, score: Float(dot) * (qs * rs[r]))
    }
    all.sort { $0.score != $1.score ? $0.score > $1.score : $0.row < $1.row }
    return Array(all.prefix(k))
}

@Suite("Watchlist index: exact int8 top-k search")
struct IndexTests {
    @Test("every path equals the scalar path: random sizes, odd dims, k > rows, ties, extremes, batch == single")
    func pathsEqualScalar() throws {
        var rng = Rand(s: 0x5EED_1234_ABCD)
        let dims = [1, 3, 127, 128, 129, 200]
        var checked = Set<WatchlistIndex.ISA>()
        for trial in 0..<300 {
            let rows = trial % 10 == 0 ? trial % 20 / 10 : rng.int(0...150)   // 0 and 1 rows too
            let dim = dims[trial % dims.count]
            let nq = trial % 3 == 0 ? 1 : rng.int(1...33)
            let k = trial % 4 == 0 ? rows + rng.int(1...3) : rng.int(1...12)
            let mode = trial % 3  // 0 random, 1 extremes only, 2 duplicate rows with one scale
            var m = [Int8](repeating: 0, count: rows * dim)
            var rs = [Float](repeating: 0, count: rows)
            for r in 0..<rows {
                rs[r] = mode == 2 ? 1 / 127 : rng.scale()
                if mode == 2, r > 0, rng.next() % 2 == 0 {
                    let src = rng.int(0...(r - 1))
                    for d in 0..<dim { m[r * dim + d] = m[src * dim + d] }
                    continue
                }
                for d in 0..<dim { m[r * dim + d] = mode == 1 ? (rng.next() % 2 == 0 ? 127 : -128) : rng.int8() }
            }
            let q = (0..<(nq * dim)).map { _ in mode == 1 ? (rng.next() % 2 == 0 ? Int8(127) : -128) : rng.int8() }
            let qs = (0..<nq).map { _ in rng.scale() }
            let ref = try WatchlistIndex(rows: rows, dimension: dim, matrix: m, rowScales: rs, isa: .scalar)
            #expect(ref.isa == .scalar)
            let expected = ref.search(batch: q, scales: qs, k: k)
            #expect(expected.count == nq)
            #expect(expected[0].count == min(k, rows))
            #expect(expected[0] == bruteForce(m, rs, dim: dim, Array(q[0..<dim]), qs[0], k: k))
            for p in paths {
                let ix = try WatchlistIndex(rows: rows, dimension: dim, matrix: m, rowScales: rs, isa: p)
                guard ix.isa == p else { continue }  // the machine lacks this path
                checked.insert(p)
                let got = ix.search(batch: q, scales: qs, k: k)
                #expect(got == expected, "path \(p) rows \(rows) dim \(dim) nq \(nq) k \(k) mode \(mode)")
                for i in stride(from: 0, to: nq, by: max(1, nq / 3)) {
                    let single = ix.search(Array(q[(i * dim)..<((i + 1) * dim)]), scale: qs[i], k: k)
                    #expect(single == expected[i], "path \(p) single query \(i)")
                }
            }
        }
        #if arch(x86_64)
        // The machine has AVX2 at least (every x86-64 CI runner here does).
        #expect(checked.contains(.avx2))
        #endif
    }

    @Test("ties go to the lower row; k beyond rows returns every row")
    func ties() throws {
        let dim = 129
        let row = (0..<dim).map { Int8(truncatingIfNeeded: $0 * 7) }
        let m = Array([[Int8]](repeating: row, count: 40).joined())
        for p in [WatchlistIndex.ISA.scalar] + paths {
            let ix = try WatchlistIndex(rows: 40, dimension: dim, matrix: m, rowScales: Array(repeating: 0.01, count: 40), isa: p)
            let hits = ix.search(row, scale: 0.01, k: 50)
            #expect(hits.map(\.row) == Array(0..<40))
            #expect(Set(hits.map(\.score)).count == 1)
        }
    }

    @Test("bad sizes and scales are typed errors; empty index gives no hits")
    func errors() throws {
        #expect(throws: WatchlistIndexError.badShape(rows: 1, dimension: 0)) {
            try WatchlistIndex(rows: 1, dimension: 0, matrix: [], rowScales: [1])
        }
        #expect(throws: WatchlistIndexError.badSize(expected: 6, got: 5)) {
            try WatchlistIndex(rows: 2, dimension: 3, matrix: [1, 2, 3, 4, 5], rowScales: [1, 1])
        }
        #expect(throws: WatchlistIndexError.badSize(expected: 2, got: 1)) {
            try WatchlistIndex(rows: 2, dimension: 3, matrix: [1, 2, 3, 4, 5, 6], rowScales: [1])
        }
        #expect(throws: WatchlistIndexError.badScale) {
            try WatchlistIndex(rows: 1, dimension: 1, matrix: [1], rowScales: [.nan])
        }
        let empty = try WatchlistIndex(rows: 0, dimension: 128, matrix: [], rowScales: [])
        #expect(empty.search([Int8](repeating: 1, count: 128), scale: 1, k: 10).isEmpty)
        let one = try WatchlistIndex(rows: 1, dimension: 2, matrix: [3, -4], rowScales: [0.5])
        #expect(one.search([1, 1], scale: 2, k: 3) == [SearchHit(row: 0, score: -1)])
        #expect(one.search([1], scale: 2, k: 3).isEmpty)          // wrong-sized query
        #expect(one.search([1, 1], scale: .infinity, k: 3).isEmpty)
    }

    @Test("quantize: max-abs maps to 127, cosine of quantized unit vectors is close to the float one")
    func quantize() throws {
        var rng = Rand(s: 99)
        func unit() -> [Float] {
            let v = (0..<128).map { _ in Float(rng.int(-1000...1000)) / 1000 }
            let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return v.map { $0 / n }
        }
        let a = unit(), b = unit()
        let (qa, sa) = WatchlistIndex.quantize(a)
        let (qb, sb) = WatchlistIndex.quantize(b)
        #expect(qa.map { abs(Int($0)) }.max() == 127)
        #expect(!qa.contains(-128))
        let ix = try WatchlistIndex(rows: 2, dimension: 128, matrix: qa + qb, rowScales: [sa, sb])
        let hits = ix.search(qa, scale: sa, k: 2)
        #expect(hits.first?.row == 0)
        #expect(abs(hits[0].score - 1) < 0.01)
        let cos = zip(a, b).reduce(Float(0)) { $0 + $1.0 * $1.1 }
        #expect(abs(hits[1].score - cos) < 0.02)
        #expect(WatchlistIndex.quantize([0, 0]) == ([0, 0], 1))
    }
}

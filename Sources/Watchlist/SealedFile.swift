// At-rest encryption of stored lists in 1 MiB chunks (ChaCha20-Poly1305 each), so encrypting or
// decrypting a 78 MB list (300,000 entries) never holds more than one extra chunk in memory —
// a one-shot seal of the whole list cost three extra copies of it on a 1 GiB board.
//
// File: "VGWLENC1" | u32 chunk size | u64 plaintext length | 12-byte random base nonce |
//       chunks: ciphertext (chunk size, the last one shorter) | 16-byte tag
// Chunk i uses nonce = base nonce with its last 8 bytes XOR i (little endian) and AAD
// = context | u64 i | u8 (1 for the last chunk, else 0): chunks cannot be reordered, dropped,
// swapped between files or truncated away without a tag failing.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Crypto
import VigilCore

enum SealedFile {
    static let magic = Array("VGWLENC1".utf8)
    static let chunkSize = 1 << 20
    static let headerSize = 8 + 4 + 8 + 12

    /// The sealed file's size for `plain` bytes: header, the bytes, a tag per chunk (the read
    /// limit for a stored list is `sealedSize(ReadLimit.bundle)`).
    static func sealedSize(_ plain: Int) -> Int { headerSize + plain + 16 * max(1, (plain + chunkSize - 1) / chunkSize) }

    static func nonce(_ base: [UInt8], _ i: UInt64) -> [UInt8] {
        var n = base
        for b in 0..<8 { n[4 + b] ^= UInt8(truncatingIfNeeded: i >> (8 * UInt64(b))) }
        return n
    }

    static func aad(_ context: [UInt8], _ i: UInt64, last: Bool) -> [UInt8] {
        var a = context
        for b in 0..<8 { a.append(UInt8(truncatingIfNeeded: i >> (8 * UInt64(b)))) }
        a.append(last ? 1 : 0)
        return a
    }

    /// Encrypts `plain` into `path` (temp → fsync → rename → fsync directory, mode 0600).
    static func write(_ plain: [UInt8], to path: String, key: SymmetricKey, context: [UInt8]) throws(WatchlistError) {
        var base = [UInt8](repeating: 0, count: 12)
        var g = SystemRandomNumberGenerator()
        for i in 0..<12 { base[i] = UInt8.random(in: 0...255, using: &g) }
        var header = magic
        for b in 0..<4 { header.append(UInt8(truncatingIfNeeded: UInt32(chunkSize) >> (8 * UInt32(b)))) }
        for b in 0..<8 { header.append(UInt8(truncatingIfNeeded: UInt64(plain.count) >> (8 * UInt64(b)))) }
        header += base
        let chunks = max(1, (plain.count + chunkSize - 1) / chunkSize)
        let tmp = path + ".tmp"
        unlink(tmp)
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .storage(FileError(path: tmp, operation: "create", errno: .current)) }
        func fail(_ e: WatchlistError) -> WatchlistError { close(fd); unlink(tmp); return e }
        func put(_ bytes: UnsafeRawBufferPointer) -> Errno? {
            var done = 0
            while done < bytes.count {
                let r = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
                if r < 0 { if errno == EINTR { continue }; return .current }
                done += r
            }
            return nil
        }
        if let e = header.withUnsafeBytes({ put($0) }) { throw fail(.storage(FileError(path: path, operation: "write", errno: e))) }
        for i in 0..<chunks {
            let lo = i * chunkSize, hi = min(plain.count, lo + chunkSize)
            let box: ChaChaPoly.SealedBox
            do {
                box = try ChaChaPoly.seal(plain[lo..<hi], using: key, nonce: try ChaChaPoly.Nonce(data: nonce(base, UInt64(i))),
                                          authenticating: aad(context, UInt64(i), last: i == chunks - 1))
            } catch { throw fail(.key("encryption failed: \(error)")) }
            var err: Errno?
            box.ciphertext.withUnsafeBytes { err = put($0) }
            if err == nil { box.tag.withUnsafeBytes { err = put($0) } }
            if let e = err { throw fail(.storage(FileError(path: path, operation: "write", errno: e))) }
        }
        guard fsync(fd) == 0 else { throw fail(.storage(FileError(path: path, operation: "fsync", errno: .current))) }
        close(fd)
        guard rename(tmp, path) == 0 else {
            let e = Errno.current
            unlink(tmp)
            throw .storage(FileError(path: path, operation: "rename into place", errno: e))
        }
        do { try syncDirectory(containing: path) } catch { throw .storage(error) }
    }

    /// Decrypts `path`; any altered, reordered, truncated or extended chunk fails.
    static func read(_ path: String, key: SymmetricKey, context: [UInt8]) throws(WatchlistError) -> [UInt8] {
        let sealed: [UInt8]
        do { sealed = try readFile(path, maximumBytes: sealedSize(ReadLimit.bundle), symlinks: .refuse) } catch { throw .storage(error) }
        guard sealed.count >= headerSize, Array(sealed[0..<8]) == magic else { throw .corruptStorage("\(path): not a sealed list") }
        var r = ByteReader(sealed)
        r.offset = 8
        let cs = Int(r.u32()), length = r.u64()
        let base = r.bytes(12)
        guard cs == chunkSize, length <= UInt64(sealed.count) else { throw .corruptStorage("\(path): bad sealed header") }
        let n = Int(length)
        let chunks = max(1, (n + cs - 1) / cs)
        guard sealed.count == headerSize + n + 16 * chunks else { throw .corruptStorage("\(path): truncated or extended") }
        var plain = [UInt8](repeating: 0, count: n)
        var offset = headerSize
        for i in 0..<chunks {
            let len = min(cs, n - i * cs)
            do {
                let box = try ChaChaPoly.SealedBox(nonce: try ChaChaPoly.Nonce(data: nonce(base, UInt64(i))),
                                                   ciphertext: sealed[offset..<(offset + len)],
                                                   tag: sealed[(offset + len)..<(offset + len + 16)])
                let p = try ChaChaPoly.open(box, using: key, authenticating: aad(context, UInt64(i), last: i == chunks - 1))
                p.withUnsafeBytes { src in
                    plain.withUnsafeMutableBytes { dst in dst.baseAddress!.advanced(by: i * cs).copyMemory(from: src.baseAddress!, byteCount: src.count) }
                }
            } catch { throw .corruptStorage("\(path): decryption failed (tampered, truncated or another device's key)") }
            offset += len + 16
        }
        return plain
    }
}

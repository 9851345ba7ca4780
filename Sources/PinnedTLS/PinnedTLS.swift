// What the device's two HTTPS clients (watchlist sync, hit upload) share: their `key = value`
// configuration files and a TLS configuration that trusts only a pinned CA.
#if canImport(Glibc)
import Glibc
#endif
import NIOSSL
import VigilCore

/// A `key = value` file (comments after '#', blank lines ignored); every line error names the
/// file and line. Returns the values of `known` keys; unknown, repeated or empty keys are errors.
public func parseKeyValueFile(_ text: String, path: String, known: [String]) throws(ConfigFileError) -> [String: String] {
    var values: [String: String] = [:]
    for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
        let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        let trimmed = line.trimmingBlanks
        if trimmed.isEmpty { continue }
        guard let eq = trimmed.firstIndex(of: "=") else { throw ConfigFileError("\(path):\(i + 1): expected 'key = value'") }
        let key = String(trimmed[..<eq]).trimmingBlanks, value = String(trimmed[trimmed.index(after: eq)...]).trimmingBlanks
        guard known.contains(key) else { throw ConfigFileError("\(path):\(i + 1): unknown key '\(key)' (known: \(known.joined(separator: ", ")))") }
        guard values[key] == nil else { throw ConfigFileError("\(path):\(i + 1): '\(key)' given twice") }
        guard !value.isEmpty else { throw ConfigFileError("\(path):\(i + 1): '\(key)' has no value") }
        values[key] = value
    }
    return values
}

public struct ConfigFileError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ m: String) { message = m }
    public var description: String { message }
}

/// A client TLS configuration trusting only the CA in `caFile` (never the system store), with an
/// optional client certificate. Errors name the file, never its contents.
public func pinnedClientTLS(caFile: String, clientCertificate: String?, clientKey: String?) throws(ConfigFileError) -> TLSConfiguration {
    var tls = TLSConfiguration.makeClientConfiguration()
    tls.minimumTLSVersion = .tlsv12
    tls.certificateVerification = .fullVerification
    let ca: [NIOSSLCertificate]
    do { ca = try NIOSSLCertificate.fromPEMFile(caFile) } catch {
        throw ConfigFileError("\(caFile): cannot load the CA certificate (\(type(of: error)))")
    }
    guard !ca.isEmpty else { throw ConfigFileError("\(caFile): no certificate in the file") }
    tls.trustRoots = .certificates(ca)
    if let cert = clientCertificate, let key = clientKey {
        let chain: [NIOSSLCertificate]
        do { chain = try NIOSSLCertificate.fromPEMFile(cert) } catch { throw ConfigFileError("\(cert): cannot load the client certificate") }
        guard !chain.isEmpty else { throw ConfigFileError("\(cert): no certificate in the file") }
        tls.certificateChain = chain.map { .certificate($0) }
        // the same rule as every other private key of the device: only its owner may read it,
        // and a symlink could point anywhere
        var st = stat()
        if lstat(key, &st) == 0 {
            if (st.st_mode & S_IFMT) == S_IFLNK { throw ConfigFileError("\(key): the client key is a symlink; refusing it") }
            if st.st_mode & 0o077 != 0 {
                throw ConfigFileError("\(key): the client key is readable by others (mode \(String(st.st_mode & 0o777, radix: 8))); chmod 600 it")
            }
        }
        do { tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)) } catch {
            throw ConfigFileError("\(key): cannot load the client key")
        }
    }
    return tls
}

extension String {
    /// Without leading and trailing spaces, tabs and carriage returns.
    public var trimmingBlanks: String {
        let u = Array(utf8)
        var a = 0, b = u.count
        while a < b, u[a] == 0x20 || u[a] == 0x09 || u[a] == 0x0D { a += 1 }
        while b > a, u[b - 1] == 0x20 || u[b - 1] == 0x09 || u[b - 1] == 0x0D { b -= 1 }
        return String(decoding: u[a..<b], as: UTF8.self)
    }
}

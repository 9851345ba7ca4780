// Device provisioning (docs/PROVISIONING.md): the device makes its own TLS client key — it never
// leaves the device — and a PKCS#10 request for the agency's CA; the technician reads the key's
// fingerprint to the agency, which signs; `installCertificate` checks the answer against the key
// and the CA before anything is written, so a wrong file is refused on the spot, not discovered
// as a TLS failure at 3 a.m.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Crypto
import VigilCore
import X509
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// MARK: errors

/// Everything provisioning can refuse, each with one line a technician can act on.
public enum ProvisioningError: Error, Equatable, CustomStringConvertible {
    case file(FileError)
    case invalidDeviceID(String, reason: String)
    /// A key or request is there already: replacing a device's TLS key invalidates its
    /// certificate, so it takes `--force`.
    case wouldOverwrite(path: String)
    /// A private key file that is not a regular file, or that group or others can read.
    case insecurePrivateKey(path: String, reason: String)
    case notPEM(path: String, expected: String, hint: String?)
    case truncated(path: String, detail: String)
    case malformed(path: String, reason: String)
    case unexpectedCount(path: String, expected: String, found: Int)
    case unsupportedKey(path: String, reason: String)
    /// The certificate certifies some other key than the device's tls.key.
    case keyMismatch(certificate: String, key: String, certificateKey: String, deviceKey: String)
    /// Not signed by (any certificate in) the given CA file.
    case notIssuedByCA(certificate: String, ca: String, issuer: String)
    case caNotAuthority(ca: String, subject: String)
    /// The device clock is before the certificate's start: usually a Pi without an RTC that
    /// booted without network time.
    case notYetValid(now: Date, notBefore: Date, notAfter: Date)
    case expired(now: Date, notBefore: Date, notAfter: Date)
    case clientAuthNotAllowed(certificate: String, usages: String)
    case digitalSignatureNotAllowed(certificate: String)
    case crypto(String)

    public var description: String {
        switch self {
        case .file(let e): return e.description
        case .invalidDeviceID(let id, let reason): return "device id '\(id)': \(reason)"
        case .wouldOverwrite(let p):
            return "\(p) exists: refusing to overwrite it (--force replaces the TLS key and request; the certificate issued for the old key then no longer works)"
        case .insecurePrivateKey(let p, let reason): return "\(p): \(reason)"
        case .notPEM(let p, let expected, let hint):
            return "\(p): not a PEM \(expected) (no -----BEGIN \(expected)----- line)" + (hint.map { ": \($0)" } ?? "")
        case .truncated(let p, let detail): return "\(p): truncated: \(detail) (copied only in part?)"
        case .malformed(let p, let reason): return "\(p): malformed: \(reason)"
        case .unexpectedCount(let p, let expected, let n):
            return "\(p): expected one \(expected), found \(n) (give the device certificate alone; the CA goes in --ca)"
        case .unsupportedKey(let p, let reason): return "\(p): unsupported key: \(reason)"
        case .keyMismatch(let c, let k, let ck, let dk):
            return "\(c): the certificate is for another key (\(ck)), not this device's \(k) (\(dk)): was it issued for another device's request?"
        case .notIssuedByCA(let c, let ca, let issuer):
            return "\(c): not signed by the CA in \(ca) (the certificate names issuer \(issuer)): wrong CA file, or a certificate from another CA"
        case .caNotAuthority(let ca, let subject):
            return "\(ca): \(subject) is not a CA certificate (basicConstraints CA:FALSE): give the CA that signed the certificate"
        case .notYetValid(let now, let nb, let na):
            return "the device clock says \(utcString(now)) but the certificate is valid from \(utcString(nb)) to \(utcString(na)): set the clock (no RTC?) before trusting this"
        case .expired(let now, let nb, let na):
            return "the certificate expired at \(utcString(na)) (valid from \(utcString(nb))); the device clock says \(utcString(now)): ask the agency for a new one (or, if the clock is wrong, set it: no RTC?)"
        case .clientAuthNotAllowed(let c, let usages):
            return "\(c): the certificate's extended key usage (\(usages)) does not allow TLS client authentication (clientAuth): the servers will refuse it"
        case .digitalSignatureNotAllowed(let c):
            return "\(c): the certificate's key usage lacks digitalSignature: an ECDSA key cannot sign a TLS handshake with it"
        case .crypto(let reason): return reason
        }
    }
}

// MARK: file layout

/// The files of one provisioning directory (`/etc/vigil/tls` on a device). Fixed names so the
/// technician, the docs and the config all agree without anyone choosing.
public struct ProvisioningFiles: Sendable, Equatable {
    public var directory: String
    public init(directory: String) {
        var d = directory
        while d.count > 1, d.hasSuffix("/") { d.removeLast() }
        self.directory = d
    }
    /// TLS client private key, ECDSA P-256, PKCS#8 PEM, 0600. Secret; never leaves the device.
    public var tlsKey: String { directory + "/tls.key" }
    /// The certificate signing request (PKCS#10 PEM, 0644) for the agency. Public.
    public var csr: String { directory + "/device.csr" }
    /// The certificate the agency issued for tls.key (PEM, 0644), written by install-cert.
    public var tlsCertificate: String { directory + "/tls.crt" }
    /// The agency CA (PEM, 0644), copied by install-cert: the pinned `ca` for sync and upload.
    public var caCertificate: String { directory + "/ca.crt" }
    /// Ed25519 hit-signing key (`vigil keys generate --role device` format, 0600). Secret.
    public var signingKey: String { directory + "/device.key" }
    /// Its public half (0644): the agency needs it to verify this device's hit records.
    public var signingPublicKey: String { directory + "/device.pub" }
}

// MARK: provision: key + request

/// Device ids become the certificate's CN and appear in server logs and upload paths: letters,
/// digits, '.', '_' and '-' only, 1…64 characters, so they can never smuggle a '/' or a ','.
public func validateDeviceID(_ id: String) throws(ProvisioningError) {
    guard !id.isEmpty, id.utf8.count <= 64 else { throw .invalidDeviceID(id, reason: "must be 1 to 64 characters") }
    for c in id.utf8 {
        switch c {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x2D, 0x2E, 0x5F: continue
        default: throw .invalidDeviceID(id, reason: "only letters, digits, '.', '_' and '-' are allowed")
        }
    }
    guard id.first != "-", id.first != "." else { throw .invalidDeviceID(id, reason: "must not start with '-' or '.'") }
}

/// The subject the request asks for: O = "Vigil device", CN = the device id.
public let deviceOrganization = "Vigil device"

/// What `provision` made.
public struct ProvisionedRequest: Sendable {
    public var files: ProvisioningFiles
    public var deviceID: String
    /// SHA-256 of the TLS key's SubjectPublicKeyInfo (DER), grouped: what the technician reads
    /// out; the agency recomputes it from the request (docs/PROVISIONING.md) before signing.
    public var publicKeyFingerprint: String
    /// The request, PEM.
    public var csrPEM: String
    /// A tls.crt issued for the key that --force replaced, moved aside to tls.crt.prev.
    public var movedAsideCertificate: String?
}

/// Refuses early (before any key is generated) when the TLS key or request exists without
/// `force`, and when the device id is not acceptable: a half-provisioned directory is worse
/// than none.
public func checkProvisionTargets(_ files: ProvisioningFiles, deviceID: String, force: Bool) throws(ProvisioningError) {
    try validateDeviceID(deviceID)
    if !force {
        for p in [files.tlsKey, files.csr] where exists(p) { throw .wouldOverwrite(path: p) }
    }
}

/// Creates `files.directory` (0700) if needed, a new ECDSA P-256 TLS key (tls.key, 0600, written
/// atomically, never over an existing key unless `force`) and a PKCS#10 request device.csr
/// signed with it: subject O=Vigil device, CN=`deviceID`, extension request keyUsage
/// digitalSignature (critical), extendedKeyUsage clientAuth, basicConstraints CA:FALSE (critical).
/// The CA decides what it actually grants; install-cert checks what came back.
///
/// P-256 because every TLS stack on both ends (NIOSSL/BoringSSL on the device, OpenSSL in
/// nginx and the agency's CA tooling) supports it, signing is cheap on a Pi, and keys are small.
public func provisionTLSKey(_ files: ProvisioningFiles, deviceID: String, force: Bool) throws(ProvisioningError) -> ProvisionedRequest {
    try checkProvisionTargets(files, deviceID: deviceID, force: force)
    if mkdir(files.directory, 0o700) != 0 && errno != EEXIST {
        throw .file(FileError(path: files.directory, operation: "create directory", errno: .current))
    }
    let key = P256.Signing.PrivateKey()
    let csr: CertificateSigningRequest
    let csrPEM: String
    do {
        let subject = try DistinguishedName {
            OrganizationName(deviceOrganization)
            CommonName(deviceID)
        }
        let extensions = try Certificate.Extensions {
            Critical(KeyUsage(digitalSignature: true))
            try ExtendedKeyUsage([.clientAuth])
            Critical(BasicConstraints.notCertificateAuthority)
        }
        let attributes = CertificateSigningRequest.Attributes([try .init(ExtensionRequest(extensions: extensions))])
        csr = try CertificateSigningRequest(
            version: .v1, subject: subject, privateKey: Certificate.PrivateKey(key),
            attributes: attributes, signatureAlgorithm: .ecdsaWithSHA256)
        csrPEM = try csr.serializeAsPEM().pemString + "\n"
    } catch {
        throw .crypto("cannot build the certificate signing request: \(error)")
    }
    var movedAside: String?
    do throws(FileError) {
        if force, exists(files.tlsCertificate) {
            // the old certificate certifies the old key: keep it for the record, out of the way
            let prev = files.tlsCertificate + ".prev"
            guard rename(files.tlsCertificate, prev) == 0 else {
                throw FileError(path: files.tlsCertificate, operation: "move aside", errno: .current)
            }
            movedAside = prev
        }
        try writeFileAtomically(files.tlsKey, Array((key.pemRepresentation + "\n").utf8), mode: 0o600)
        try writeFileAtomically(files.csr, Array(csrPEM.utf8), mode: 0o644)
    } catch {
        throw .file(error)
    }
    return ProvisionedRequest(
        files: files, deviceID: deviceID,
        publicKeyFingerprint: groupedSHA256(Array(key.publicKey.derRepresentation)),
        csrPEM: csrPEM, movedAsideCertificate: movedAside)
}

// MARK: reading a request back (tests, and the agency's side of the phone call)

/// A parsed request: what it asks for, and whether its self-signature holds.
public struct RequestSummary: Sendable {
    public var request: CertificateSigningRequest
    public var subject: String
    public var commonName: String?
    public var publicKeyFingerprint: String
    public var signatureValid: Bool
    public var requestedExtensions: Certificate.Extensions?
}

/// Parses a PEM request (`-----BEGIN CERTIFICATE REQUEST-----`) and checks its signature.
public func readRequest(_ path: String) throws(ProvisioningError) -> RequestSummary {
    let blocks = try parsePEM(try read(path), labels: ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"], path: path, expected: "CERTIFICATE REQUEST")
    guard blocks.count == 1 else { throw .unexpectedCount(path: path, expected: "certificate request", found: blocks.count) }
    let csr: CertificateSigningRequest
    do { csr = try CertificateSigningRequest(derEncoded: blocks[0].der) } catch {
        throw .malformed(path: path, reason: "not a PKCS#10 request (\(error))")
    }
    let ext: Certificate.Extensions?
    do { ext = try csr.attributes.extensionRequest?.extensions } catch {
        throw .malformed(path: path, reason: "unreadable extension request (\(error))")
    }
    return RequestSummary(
        request: csr, subject: csr.subject.description,
        commonName: commonName(of: csr.subject),
        publicKeyFingerprint: try spkiFingerprint(csr.publicKey, path: path),
        signatureValid: csr.publicKey.isValidSignature(csr.signature, for: csr),
        requestedExtensions: ext)
}

// MARK: install-cert

/// What install-cert installed (all printed for the technician to read back).
public struct InstalledCertificate: Sendable {
    public var files: ProvisioningFiles
    public var subject: String
    public var issuer: String
    public var serial: String
    public var notBefore: Date
    public var notAfter: Date
    /// SHA-256 of the certificate (DER), grouped: the same as `openssl x509 -noout -fingerprint -sha256`.
    public var fingerprint: String
    /// SHA-256 of its public key (SPKI): equal to what provision printed.
    public var publicKeyFingerprint: String
}

/// Checks `certificateFile` against the device's tls.key and the CA in `caFile`, then installs
/// both (ca.crt first, then tls.crt; each atomically, 0644). Nothing is written unless every
/// check passes, in this order, each with its own error:
///
/// 1. both files are PEM, complete, and parse (exactly one certificate in `certificateFile`;
///    the CA file may hold several CAs, e.g. during a CA rollover);
/// 2. the certificate's public key is the one in tls.key (else it belongs to another device);
/// 3. it is signed by a certificate in `caFile` that is a CA (issuer name and signature);
/// 4. `now` is within its validity window — a Pi without RTC that booted offline thinks it is
///    1970 or last month, and then every TLS connection would fail for a reason nobody sees;
/// 5. its extended key usage, when present, allows clientAuth; its key usage, when present,
///    allows digitalSignature (else nginx / the TLS stack refuses it later, less clearly).
public func installCertificate(_ files: ProvisioningFiles, certificateFile: String, caFile: String, now: Date = Date()) throws(ProvisioningError) -> InstalledCertificate {
    // the device's key first: without it nothing can match
    let key = try loadTLSKey(files.tlsKey)
    let certBlocks = try parsePEM(try read(certificateFile), labels: ["CERTIFICATE"], path: certificateFile, expected: "CERTIFICATE")
    guard certBlocks.count == 1 else { throw .unexpectedCount(path: certificateFile, expected: "certificate", found: certBlocks.count) }
    let cert = try parseCertificate(certBlocks[0].der, path: certificateFile)
    let caBlocks = try parsePEM(try read(caFile), labels: ["CERTIFICATE"], path: caFile, expected: "CERTIFICATE")
    var cas: [Certificate] = []
    for b in caBlocks { cas.append(try parseCertificate(b.der, path: caFile)) }

    let certKey = try spkiFingerprint(cert.publicKey, path: certificateFile)
    let deviceKey = try spkiFingerprint(key.publicKey, path: files.tlsKey)
    guard cert.publicKey == key.publicKey else {
        throw .keyMismatch(certificate: certificateFile, key: files.tlsKey, certificateKey: certKey, deviceKey: deviceKey)
    }

    guard let issuer = cas.first(where: { $0.subject == cert.issuer && $0.publicKey.isValidSignature(cert.signature, for: cert) }) else {
        throw .notIssuedByCA(certificate: certificateFile, ca: caFile, issuer: cert.issuer.description)
    }
    // a CA certificate without basicConstraints (X.509 v1) is accepted: old agency CAs exist
    if case .some(.notCertificateAuthority) = try? issuer.extensions.basicConstraints {
        throw .caNotAuthority(ca: caFile, subject: issuer.subject.description)
    }

    if now < cert.notValidBefore {
        throw .notYetValid(now: now, notBefore: cert.notValidBefore, notAfter: cert.notValidAfter)
    }
    if now > cert.notValidAfter {
        throw .expired(now: now, notBefore: cert.notValidBefore, notAfter: cert.notValidAfter)
    }

    let eku: ExtendedKeyUsage?
    do { eku = try cert.extensions.extendedKeyUsage } catch {
        throw .malformed(path: certificateFile, reason: "unreadable extended key usage (\(error))")
    }
    if let eku, !eku.contains(.clientAuth), !eku.contains(.any) {
        throw .clientAuthNotAllowed(certificate: certificateFile, usages: eku.description)
    }
    let ku: KeyUsage?
    do { ku = try cert.extensions.keyUsage } catch {
        throw .malformed(path: certificateFile, reason: "unreadable key usage (\(error))")
    }
    if let ku, !ku.digitalSignature { throw .digitalSignatureNotAllowed(certificate: certificateFile) }

    // every check passed: install. The CA first, so a crash in between leaves the old tls.crt
    // with a CA file that still verifies the servers (the CA did not change in a renewal).
    do throws(FileError) {
        try writeFileAtomically(files.caCertificate, Array(caBlocks.map(\.text).joined().utf8), mode: 0o644)
        try writeFileAtomically(files.tlsCertificate, Array(certBlocks[0].text.utf8), mode: 0o644)
    } catch {
        throw .file(error)
    }
    return InstalledCertificate(
        files: files, subject: cert.subject.description, issuer: cert.issuer.description,
        serial: cert.serialNumber.description, notBefore: cert.notValidBefore, notAfter: cert.notValidAfter,
        fingerprint: groupedSHA256(certBlocks[0].der), publicKeyFingerprint: certKey)
}

// MARK: helpers

/// Loads tls.key as a private key after the same checks as Vigil's other private keys: a
/// regular file (no symlink), not readable by group or others — otherwise presume it copied.
public func loadTLSKey(_ path: String) throws(ProvisioningError) -> Certificate.PrivateKey {
    var st = stat()
    guard lstat(path, &st) == 0 else { throw .file(FileError(path: path, operation: "stat", errno: .current)) }
    guard (st.st_mode & S_IFMT) == S_IFREG else {
        throw .insecurePrivateKey(path: path, reason: "not a regular file (symlinks are refused for private keys)")
    }
    let perms = st.st_mode & 0o777
    guard perms & 0o077 == 0 else {
        throw .insecurePrivateKey(path: path, reason: "permissions \(String(perms, radix: 8)) let others read this private key; it must be 600 (chmod 600, and consider the key compromised)")
    }
    let blocks = try parsePEM(try read(path), labels: ["PRIVATE KEY", "EC PRIVATE KEY"], path: path, expected: "PRIVATE KEY")
    guard blocks.count == 1 else { throw .unexpectedCount(path: path, expected: "private key", found: blocks.count) }
    do { return try Certificate.PrivateKey(pemEncoded: blocks[0].text) } catch {
        throw .malformed(path: path, reason: "not an ECDSA private key (\(error))")
    }
}

/// SHA-256 over the DER SubjectPublicKeyInfo — the same bytes as
/// `openssl pkey -pubin -outform DER | sha256sum`, so the agency can check it with stock tools.
public func spkiFingerprint(_ key: Certificate.PublicKey, path: String) throws(ProvisioningError) -> String {
    if let k = P256.Signing.PublicKey(key) { return groupedSHA256(Array(k.derRepresentation)) }
    if let k = P384.Signing.PublicKey(key) { return groupedSHA256(Array(k.derRepresentation)) }
    if let k = P521.Signing.PublicKey(key) { return groupedSHA256(Array(k.derRepresentation)) }
    throw .unsupportedKey(path: path, reason: "\(key) (Vigil device keys are ECDSA P-256)")
}

func parseCertificate(_ der: [UInt8], path: String) throws(ProvisioningError) -> Certificate {
    do { return try Certificate(derEncoded: der) } catch {
        throw .malformed(path: path, reason: "not an X.509 certificate (\(error))")
    }
}

func commonName(of name: DistinguishedName) -> String? {
    for rdn in name { for a in rdn where a.type == .RDNAttributeType.commonName { return a.value.description } }
    return nil
}

func read(_ path: String) throws(ProvisioningError) -> [UInt8] {
    do { return try readFile(path, maximumBytes: ReadLimit.key) } catch { throw .file(error) }
}

func exists(_ path: String) -> Bool {
    var st = stat()
    return lstat(path, &st) == 0
}

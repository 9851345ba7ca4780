// Provisioning: the CSR as the agency's CA sees it (parsed back with swift-certificates), signed
// by a CA made here, installed; and every refusal leaves nothing installed.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Crypto
import PinnedTLS
import Provisioning
import Testing
import VigilCore
import VigilTestSupport
import X509
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// MARK: helpers

private func mode(_ path: String) -> mode_t {
    var st = stat()
    guard stat(path, &st) == 0 else { return 0 }
    return st.st_mode & 0o777
}

private func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

private func write(_ path: String, _ text: String) throws { try writeFileAtomically(path, Array(text.utf8)) }

private func text(_ path: String) throws -> String { String(decoding: try readFile(path), as: UTF8.self) }

/// A test CA: self-signed, CA:TRUE, keyCertSign — what the agency runs.
private struct TestCA {
    let key: P256.Signing.PrivateKey
    let certificate: Certificate
    var pem: String { try! certificate.serializeAsPEM().pemString + "\n" }

    init(_ name: String, isCA: Bool = true) throws {
        key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName { CommonName(name) }
        let now = Date()
        certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
            notValidBefore: now - 3600, notValidAfter: now + 86400 * 30,
            issuer: subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(isCA ? BasicConstraints.isCertificateAuthority(maxPathLength: nil) : .notCertificateAuthority)
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: .init(key))
    }

    /// Signs a request as `openssl x509 -req` would: the request's subject and key, our choice of
    /// validity and extensions.
    func sign(
        _ csr: CertificateSigningRequest, notBefore: Date = Date() - 60, notAfter: Date = Date() + 86400,
        usages: [ExtendedKeyUsage.Usage]? = [.clientAuth], digitalSignature: Bool = true
    ) throws -> String {
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: digitalSignature, keyEncipherment: !digitalSignature))
            if let usages { try ExtendedKeyUsage(usages) }
        }
        let cert = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: csr.publicKey,
            notValidBefore: notBefore, notValidAfter: notAfter,
            issuer: certificate.subject, subject: csr.subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: extensions, issuerPrivateKey: .init(key))
        return try cert.serializeAsPEM().pemString + "\n"
    }
}

/// A provisioned directory, its parsed request, and a CA.
private struct Fixture {
    let dir: String
    let files: ProvisioningFiles
    let request: ProvisionedRequest
    let csr: CertificateSigningRequest
    let ca: TestCA
    let caFile: String

    init(_ id: String = "cam-0042") throws {
        dir = makeTempDirectory("prov")
        files = ProvisioningFiles(directory: dir + "/tls")
        request = try provisionTLSKey(files, deviceID: id, force: false)
        csr = try CertificateSigningRequest(pemEncoded: try text(files.csr))
        ca = try TestCA("Vigil test agency CA")
        caFile = dir + "/ca.pem"
        try write(caFile, ca.pem)
    }

    /// Writes `pem` to a file and runs install-cert on it.
    func install(_ pem: String, caFile: String? = nil, now: Date = Date()) throws(ProvisioningError) -> InstalledCertificate {
        let path = dir + "/signed-\(UInt32.random(in: 0...UInt32.max)).pem"
        try! write(path, pem)
        return try installCertificate(files, certificateFile: path, caFile: caFile ?? self.caFile, now: now)
    }

    var nothingInstalled: Bool { !exists(files.tlsCertificate) && !exists(files.caCertificate) }
}

// MARK: provision

@Suite struct ProvisionTests {
    @Test func createsKeyAndRequestWithTheirModes() throws {
        let f = try Fixture()
        defer { removeTree(f.dir) }
        #expect(mode(f.files.directory) == 0o700)
        #expect(mode(f.files.tlsKey) == 0o600)
        #expect(mode(f.files.csr) == 0o644)
        #expect(try text(f.files.tlsKey).hasPrefix("-----BEGIN PRIVATE KEY-----\n"))
        #expect(try text(f.files.csr).hasPrefix("-----BEGIN CERTIFICATE REQUEST-----\n"))
        #expect(!exists(f.files.tlsKey + ".tmp"))
    }

    @Test func requestRoundTrip() throws {
        let f = try Fixture("cam-0042")
        defer { removeTree(f.dir) }
        let csr = f.csr
        // signed by the TLS key, and it is the TLS key's public key that is requested
        #expect(csr.publicKey.isValidSignature(csr.signature, for: csr))
        #expect(csr.signatureAlgorithm == .ecdsaWithSHA256)
        let key = try loadTLSKey(f.files.tlsKey)
        #expect(csr.publicKey == key.publicKey)
        #expect(P256.Signing.PublicKey(csr.publicKey) != nil)
        // subject
        let expected = try DistinguishedName { OrganizationName("Vigil device"); CommonName("cam-0042") }
        #expect(csr.subject == expected)
        #expect(csr.subject.description == "CN=cam-0042,O=Vigil device")
        // requested extensions
        let ext = try #require(try csr.attributes.extensionRequest).extensions
        let ku = try #require(try ext.keyUsage)
        #expect(ku.digitalSignature && !ku.keyCertSign && !ku.keyEncipherment)
        #expect(ext[oid: .X509ExtensionID.keyUsage]?.critical == true)
        let eku = try #require(try ext.extendedKeyUsage)
        #expect(Array(eku) == [.clientAuth])
        #expect(try ext.basicConstraints == .notCertificateAuthority)
        // the library's own reading agrees, and the fingerprint is over the SPKI DER
        let summary = try readRequest(f.files.csr)
        #expect(summary.signatureValid)
        #expect(summary.commonName == "cam-0042")
        let spki = Array(try #require(P256.Signing.PublicKey(csr.publicKey)).derRepresentation)
        #expect(spki.count == 91)
        #expect(summary.publicKeyFingerprint == groupedSHA256(spki))
        #expect(f.request.publicKeyFingerprint == summary.publicKeyFingerprint)
        #expect(f.request.publicKeyFingerprint.hasPrefix("SHA256:"))
        #expect(f.request.publicKeyFingerprint.split(separator: " ").count == 16)
    }

    @Test func neverOverwritesWithoutForce() throws {
        let f = try Fixture()
        defer { removeTree(f.dir) }
        let before = try readFile(f.files.tlsKey), csrBefore = try readFile(f.files.csr)
        #expect(throws: ProvisioningError.wouldOverwrite(path: f.files.tlsKey)) {
            try provisionTLSKey(f.files, deviceID: "cam-0042", force: false)
        }
        #expect(try readFile(f.files.tlsKey) == before)
        // the request alone is protected too
        unlink(f.files.tlsKey)
        #expect(throws: ProvisioningError.wouldOverwrite(path: f.files.csr)) {
            try provisionTLSKey(f.files, deviceID: "cam-0042", force: false)
        }
        #expect(try readFile(f.files.csr) == csrBefore)
    }

    @Test func forceReplacesKeyAndMovesTheOldCertificateAside() throws {
        let f = try Fixture()
        defer { removeTree(f.dir) }
        _ = try f.install(try f.ca.sign(f.csr))
        let oldKey = try readFile(f.files.tlsKey), oldCert = try readFile(f.files.tlsCertificate)
        let r = try provisionTLSKey(f.files, deviceID: "cam-0042", force: true)
        #expect(try readFile(f.files.tlsKey) != oldKey)
        #expect(mode(f.files.tlsKey) == 0o600)
        #expect(r.movedAsideCertificate == f.files.tlsCertificate + ".prev")
        #expect(!exists(f.files.tlsCertificate))
        #expect(try readFile(f.files.tlsCertificate + ".prev") == oldCert)
        #expect(r.publicKeyFingerprint != f.request.publicKeyFingerprint)
    }

    @Test(arguments: ["", "cam/1", "cam 1", "CN=x,O=y", "-rf", String(repeating: "a", count: 65), "kamera-ü"])
    func refusesBadDeviceIDs(_ id: String) throws {
        let dir = makeTempDirectory("prov")
        defer { removeTree(dir) }
        let files = ProvisioningFiles(directory: dir + "/tls")
        #expect(throws: ProvisioningError.self) { try provisionTLSKey(files, deviceID: id, force: false) }
        #expect(!exists(files.directory))
    }
}

// MARK: install-cert

@Suite struct InstallCertTests {
    @Test func installsACertificateSignedByTheCA() throws {
        let f = try Fixture("cam-0042")
        defer { removeTree(f.dir) }
        let pem = try f.ca.sign(f.csr)
        let r = try f.install(pem)
        #expect(mode(f.files.tlsCertificate) == 0o644)
        #expect(mode(f.files.caCertificate) == 0o644)
        let installed = try Certificate(pemEncoded: try text(f.files.tlsCertificate))
        #expect(installed == (try Certificate(pemEncoded: pem)))
        #expect(try Certificate(pemEncoded: try text(f.files.caCertificate)) == f.ca.certificate)
        #expect(r.subject == "CN=cam-0042,O=Vigil device")
        #expect(r.issuer == "CN=Vigil test agency CA")
        #expect(r.publicKeyFingerprint == f.request.publicKeyFingerprint)
        #expect(r.fingerprint == groupedSHA256(Array(try installed.serializeAsPEM().derBytes)))
        #expect(r.notAfter == installed.notValidAfter)
        // a renewal (same key, new certificate) replaces tls.crt
        let renewed = try f.ca.sign(f.csr, notAfter: Date() + 86400 * 365)
        _ = try f.install(renewed)
        #expect(try Certificate(pemEncoded: try text(f.files.tlsCertificate)) == (try Certificate(pemEncoded: renewed)))
    }

    @Test func acceptsACertificateWithoutExtendedKeyUsage() throws {
        let f = try Fixture()
        defer { removeTree(f.dir) }
        _ = try f.install(try f.ca.sign(f.csr, usages: nil))
        #expect(exists(f.files.tlsCertificate))
    }

    @Test func acceptsACAFileHoldingSeveralCAs() throws {
        let f = try Fixture()
        defer { removeTree(f.dir) }
        let other = try TestCA("Vigil old CA")
        let both = f.dir + "/both.pem"
        try write(both, other.pem + f.ca.pem)
        _ = try f.install(try f.ca.sign(f.csr), caFile: both)
        #expect(try text(f.files.caCertificate) == other.pem + f.ca.pem)
    }

    @Test func refusesACertificateForAnotherKey() throws {
        let f = try Fixture("cam-0042"), g = try Fixture("cam-0043")
        defer { removeTree(f.dir); removeTree(g.dir) }
        let pem = try f.ca.sign(g.csr)  // the agency signed the wrong device's request
        #expect {
            try f.install(pem)
        } throws: { e in
            guard case .keyMismatch = e as? ProvisioningError else { return false }
            return "\(e)".contains("the certificate is for another key")
        }
        #expect(f.nothingInstalled)
    }

    @Test func refusesACertificateFromAnotherCA() throws {
        let f = try Fixture()
        defer { removeTree(f.dir) }
        let rogue = try TestCA("Vigil test agency CA")  // same name, other key: the signature decides
        let pem = try rogue.sign(f.csr)
        #expect {
            try f.install(pem)
        } throws: { e in
            guard case .notIssuedByCA = e as? ProvisioningError else { return false }
            return "\(e)".contains("not signed by the CA in \(f.caFile)")
        }
        #expect(f.nothingInstalled)
    }

    @Test func refusesACAFileThatIsNotACA() throws {
        let f = try Fixture()
        defer { removeTree(f.dir) }
        let notCA = try TestCA("Vigil leaf", isCA: false)
        let path = f.dir + "/leaf.pem"
        try write(path, notCA.pem)
        #expect(throws: ProvisioningError.caNotAuthority(ca: path, subject: "CN=Vigil leaf")) {
            try f.install(try notCA.sign(f.csr), caFile: path)
        }
        #expect(f.nothingInstalled)
    }

    @Test func refusesWhenTheClockIsBeforeTheValidity() throws {
        let f = try Fixture()
        defer { removeTree(f.dir) }
        let pem = try f.ca.sign(f.csr)
        // a Pi without RTC that booted offline: 1970
        let epoch = Date(timeIntervalSince1970: 3600)
        #expect {
            try f.install(pem, now: epoch)
        } throws: { e in
            guard case .notYetValid(let now, _, _) = e as? ProvisioningError, now == epoch else { return false }
            let m = "\(e)"
            return m.hasPrefix("the device clock says 1970-01-01 01:00:00 UTC but the certificate is valid from ")
                && m.hasSuffix(": set the clock (no RTC?) before trusting this")
        }
        #expect(f.nothingInstalled)
        // and a certificate that only starts tomorrow, with a correct clock
        #expect {
            try f.install(try f.ca.sign(f.csr, notBefore: Date() + 86400, notAfter: Date() + 86400 * 2))
        } throws: { e in
            if case .notYetValid = e as? ProvisioningError { return true } else { return false }
        }
        #expect(f.nothingInstalled)
    }

    @Test func refusesAnExpiredCertificate() throws {
        let f = try Fixture()
        defer { removeTree(f.dir) }
        let pem = try f.ca.sign(f.csr, notBefore: Date() - 86400 * 10, notAfter: Date() - 86400)
        #expect {
            try f.install(pem)
        } throws: { e in
            guard case .expired = e as? ProvisioningError else { return false }
            return "\(e)".hasPrefix("the certificate expired at ")
        }
        #expect(f.nothingInstalled)
    }

    @Test func refusesACertificateWithoutClientAuth() throws {
        let f = try Fixture()
        defer { removeTree(f.dir) }
        #expect {
            try f.install(try f.ca.sign(f.csr, usages: [.serverAuth]))
        } throws: { e in
            if case .clientAuthNotAllowed = e as? ProvisioningError { return true } else { return false }
        }
        #expect(throws: ProvisioningError.self) { try f.install(try f.ca.sign(f.csr, digitalSignature: false)) }
        #expect(f.nothingInstalled)
    }

    @Test func refusesFilesThatAreNotPEMCertificates() throws {
        let f = try Fixture()
        defer { removeTree(f.dir) }
        let good = try f.ca.sign(f.csr)
        let lines = good.split(separator: "\n").map(String.init)
        let der = Array(try Certificate(pemEncoded: good).serializeAsPEM().derBytes)
        let derPath = f.dir + "/cert.der"
        try writeFileAtomically(derPath, der)

        func refusal(_ pem: String) -> ProvisioningError? {
            do { _ = try f.install(pem); return nil } catch { return error }
        }
        // garbage
        if case .notPEM(_, "CERTIFICATE", nil)? = refusal("hello, this is not a certificate\n") {} else { Issue.record("garbage accepted or misreported") }
        #expect(refusal("")?.description.contains("not a PEM CERTIFICATE") == true)
        // a private key given as the certificate
        if case .notPEM(_, _, let hint?)? = refusal(try text(f.files.tlsKey)) { #expect(hint.contains("PRIVATE KEY")) } else { Issue.record("key accepted as certificate") }
        // truncated: the copy stopped half-way
        if case .truncated? = refusal(lines.prefix(lines.count / 2).joined(separator: "\n") + "\n") {} else { Issue.record("truncated PEM not reported as such") }
        // corrupt base64
        var bad = lines; bad[1] = "!!!!" + bad[1].dropFirst(4)
        if case .malformed? = refusal(bad.joined(separator: "\n") + "\n") {} else { Issue.record("corrupt base64 not reported") }
        // valid base64, not a certificate
        if case .malformed? = refusal("-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n") {} else { Issue.record("non-certificate DER not reported") }
        // two certificates where one is expected
        if case .unexpectedCount(_, _, 2)? = refusal(good + good) {} else { Issue.record("two certificates accepted") }
        // binary DER: refused with a hint how to convert it
        #expect {
            try installCertificate(f.files, certificateFile: derPath, caFile: f.caFile)
        } throws: { e in
            guard case .notPEM(_, _, let hint?) = e as? ProvisioningError else { return false }
            return hint.contains("DER")
        }
        // a garbage CA file
        let badCA = f.dir + "/badca.pem"
        try write(badCA, "nope\n")
        #expect(throws: ProvisioningError.notPEM(path: badCA, expected: "CERTIFICATE", hint: nil)) {
            try f.install(good, caFile: badCA)
        }
        #expect(f.nothingInstalled)
        // and after all that, the right file still installs
        _ = try f.install(good)
        #expect(exists(f.files.tlsCertificate))
    }

    @Test func refusesATLSKeyOthersCanRead() throws {
        let f = try Fixture()
        defer { removeTree(f.dir) }
        let pem = try f.ca.sign(f.csr)
        chmod(f.files.tlsKey, 0o644)
        #expect {
            try f.install(pem)
        } throws: { e in
            guard case .insecurePrivateKey = e as? ProvisioningError else { return false }
            return "\(e)".contains("permissions 644")
        }
        #expect(f.nothingInstalled)
    }

    /// Sync and upload load the same key: they apply the same rule (owner-only, no symlink)
    /// before TLS ever uses it, not only `install-cert`.
    @Test func syncAndUploadRefuseATLSKeyOthersCanRead() throws {
        let f = try Fixture()
        defer { removeTree(f.dir) }
        let certFile = f.dir + "/client.pem"
        try write(certFile, try f.ca.sign(f.csr))
        #expect(throws: Never.self) { try pinnedClientTLS(caFile: f.caFile, clientCertificate: certFile, clientKey: f.files.tlsKey) }
        chmod(f.files.tlsKey, 0o640)
        #expect { try pinnedClientTLS(caFile: f.caFile, clientCertificate: certFile, clientKey: f.files.tlsKey) } throws: { e in
            "\(e)".contains("readable by others (mode 640)")
        }
        chmod(f.files.tlsKey, 0o600)
        let link = f.dir + "/key-link.pem"
        symlink(f.files.tlsKey, link)
        #expect { try pinnedClientTLS(caFile: f.caFile, clientCertificate: certFile, clientKey: link) } throws: { e in
            "\(e)".contains("symlink")
        }
    }

    @Test func refusesWithoutAProvisionedKey() throws {
        let f = try Fixture()
        defer { removeTree(f.dir) }
        let pem = try f.ca.sign(f.csr)
        unlink(f.files.tlsKey)
        #expect(throws: ProvisioningError.self) { try f.install(pem) }
        #expect(f.nothingInstalled)
    }
}

// MARK: formats

@Suite struct FormatTests {
    @Test func base64AndPEMRoundTrip() throws {
        var rng = SplitMix64(seed: 7)
        for n in 0..<70 {
            let bytes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let block = PEMBlock(label: "TEST", der: bytes)
            if n == 0 { continue }  // an empty block is refused as corrupt
            let parsed = try parsePEM(Array(block.text.utf8), labels: ["TEST"], path: "x", expected: "TEST")
            #expect(parsed == [block])
        }
        #expect(PEMBlock(label: "T", der: Array("hello world".utf8)).text == "-----BEGIN T-----\naGVsbG8gd29ybGQ=\n-----END T-----\n")
    }

    @Test func utcTimes() {
        #expect(utcString(Date(timeIntervalSince1970: 0)) == "1970-01-01 00:00:00 UTC")
        #expect(utcString(Date(timeIntervalSince1970: 1_795_804_200)) == "2026-11-27 18:30:00 UTC")
    }
}

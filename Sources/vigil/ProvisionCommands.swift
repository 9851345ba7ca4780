// `vigil provision` (device side): the device's keys and a certificate signing request for the
// agency's CA; `vigil provision install-cert`: the signed certificate, checked, then installed.
// See docs/PROVISIONING.md. Thin: the checks live in Sources/Provisioning.
import ArgumentParser
import Provisioning
import VigilCore
import Watchlist

#if canImport(Glibc)
import Glibc
#endif

extension Vigil {
    struct ProvisionCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "provision",
            abstract: "Device keys and TLS client certificate: make the keys and a CSR, then install the signed certificate.",
            subcommands: [Request.self, InstallCert.self],
            defaultSubcommand: Request.self)
    }
}

extension Vigil.ProvisionCommand {
    struct Request: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "request",
            abstract: "Make DIR/tls.key (ECDSA P-256, 0600), DIR/device.csr (PKCS#10) and the hit-signing key DIR/device.key (0600) + device.pub; print the fingerprints to read out.",
            discussion: """
                The CSR asks for subject O=Vigil device, CN=ID, key usage digitalSignature and extended \
                key usage clientAuth. Existing keys are never overwritten: --force replaces tls.key and \
                device.csr (an installed tls.crt is moved to tls.crt.prev); an existing device.key is \
                always kept (replace it deliberately: delete it, then tell the agency the new device.pub).
                """)
        @Option(help: "Provisioning directory (created 0700 if missing), e.g. /etc/vigil/tls.") var out: String
        @Option(help: "Device id: the certificate's CN (letters, digits, . _ -). Default: the host name.") var deviceId: String?
        @Flag(help: "Replace an existing TLS key and request.") var force = false

        func run() throws {
            let files = ProvisioningFiles(directory: out)
            let id = deviceId ?? hostName()
            do {
                // refuse before anything is created: a half-provisioned directory helps nobody
                try checkProvisionTargets(files, deviceID: id, force: force)
                let signing = try deviceSigningKey(files)
                let r = try provisionTLSKey(files, deviceID: id, force: force)
                print("device \(id): TLS client key \(files.tlsKey) (0600, secret), request \(files.csr)")
                if let prev = r.movedAsideCertificate { print("the certificate for the replaced key was moved to \(prev)") }
                print("hit-signing key \(files.signingKey) (0600, secret), public \(files.signingPublicKey)\(signing.kept ? " (existing key kept)" : "")")
                print("")
                print("Read these to the agency; they compare them with what they received:")
                print("  TLS key (CSR public key)  \(r.publicKeyFingerprint)")
                print("  hit-signing key           \(signing.fingerprint)")
                print("")
                print("Send \(files.csr) and \(files.signingPublicKey) to the agency; then: vigil provision install-cert --dir \(files.directory) --cert SIGNED.pem --ca CA.pem")
            } catch { throw fail("provision: \(error)") }
        }

        /// The Ed25519 hit-signing key: made with `Watchlist.generateKey` (the same files as
        /// `vigil keys generate --role device`), or the existing one kept — replacing it would
        /// orphan every record the agency has not yet verified.
        func deviceSigningKey(_ files: ProvisioningFiles) throws -> (fingerprint: String, kept: Bool) {
            let havePriv = access(files.signingKey, F_OK) == 0, havePub = access(files.signingPublicKey, F_OK) == 0
            if havePriv || havePub {
                guard havePriv && havePub else {
                    throw ValidationError("\(havePriv ? files.signingKey : files.signingPublicKey) exists without \(havePriv ? files.signingPublicKey : files.signingKey): restore the pair or remove it")
                }
                let key = try DeviceSigningKey(file: files.signingKey)  // also refuses a key others can read
                let pub = try DevicePublicKey(file: files.signingPublicKey)
                guard pub.raw == key.publicKey.raw else {
                    throw ValidationError("\(files.signingPublicKey) is not the public half of \(files.signingKey)")
                }
                return (pub.fingerprint, true)
            }
            return (try generateKey(role: .device, directory: files.directory).fingerprint, false)
        }
    }

    struct InstallCert: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "install-cert",
            abstract: "Check the agency-signed certificate against DIR/tls.key, the CA and the clock; install it as DIR/tls.crt (0644) and the CA as DIR/ca.crt.",
            discussion: "Nothing is installed unless every check passes: the certificate's key is DIR/tls.key's, it is signed by the CA, the device clock is within its validity, and it allows TLS client authentication.")
        @Option(help: "Provisioning directory (where vigil provision put tls.key).") var dir: String
        @Option(help: "The signed certificate (PEM) the agency returned.") var cert: String
        @Option(help: "The agency CA certificate (PEM) that signed it.") var ca: String

        func run() throws {
            let files = ProvisioningFiles(directory: dir)
            do throws(ProvisioningError) {
                let c = try installCertificate(files, certificateFile: cert, caFile: ca)
                print("installed \(files.tlsCertificate) (0644) and \(files.caCertificate)")
                print("  subject     \(c.subject)")
                print("  issuer      \(c.issuer)")
                print("  serial      \(c.serial)")
                print("  valid       \(utcString(c.notBefore)) to \(utcString(c.notAfter))")
                print("  fingerprint \(c.fingerprint)")
                print("  public key  \(c.publicKeyFingerprint)")
            } catch { throw fail("install-cert: \(error)") }
        }
    }
}

private func hostName() -> String {
    var buf = [CChar](repeating: 0, count: 256)
    guard gethostname(&buf, buf.count - 1) == 0 else { return "" }
    return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
